#!/usr/bin/env python3
"""Set up and run Tidings from a fresh clone: `python3 dev.py demo` or `python3 dev.py test`.

Creates `.venv` with the interpreter that runs this file, installs the project into it
(again only when pyproject.toml changed), then runs the demo or the whole test suite
(ruff, mypy strict, pytest). Extra arguments after `test` go to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _stamp(extras: str) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return f"{digest}:{extras}:{sys.version_info[:2]}"


def ensure_env(extras: str) -> None:
    """Create the virtual environment and install the project with `extras` if stale."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this file may run on an older python3
        sys.exit(f"Tidings needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp_file = VENV / ".tidings-installed"
    wanted = _stamp(extras)
    if stamp_file.exists() and stamp_file.read_text() == wanted:
        return
    target = f".[{extras}]" if extras else "."
    print(f"installing tidings{('[' + extras + ']') if extras else ''} into {VENV}", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, cwd=ROOT)
    subprocess.run([*pip, "-e", target], check=True, cwd=ROOT)
    stamp_file.write_text(wanted)


def run(cmd: list[str]) -> int:
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


def demo(args: list[str]) -> int:
    ensure_env("")
    os.execv(str(BIN / "tidings"), [str(BIN / "tidings"), "demo", *args])
    return 0  # unreachable: execv replaces this process


def test(args: list[str]) -> int:
    ensure_env("dev,bench")
    steps = [
        [str(BIN / "ruff"), "check", "src", "tests", "bench", "dev.py"],
        [str(BIN / "mypy")],
        [str(BIN / "python"), "-m", "pytest", *args],
    ]
    for step in steps:
        code = run(step)
        if code != 0:
            return code
    return 0


def main() -> int:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
