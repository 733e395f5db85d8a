"""Run the real `tidings` command line as a subprocess, and serve with it until told to stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

STARTUP_SECONDS = 180.0  # generous: 2 shared cores; a healthy start takes a few seconds


def cli_env(tmp: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment a command runs with: this test's database, nothing from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env.update(
        TIDINGS_DATABASE_URL=database_url,
        TIDINGS_LOG_LEVEL="warning",
        TIDINGS_RATE_LIMIT_PER_SECOND="0",
        COLUMNS="200",  # Rich wraps at the terminal width; keep lines whole for the asserts
    )
    env.update(extra)
    return env


def tidings(
    *args: str,
    env: Mapping[str, str],
    cwd: Path,
    input: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`tidings ARGS...` exactly as an operator would type it; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "tidings.cli", *args],
        env=dict(env),
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Served:
    """A long-running `tidings serve`/`tidings demo`, its output in a file, stopped with SIGINT."""

    def __init__(self, args: list[str], *, env: Mapping[str, str], cwd: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = cwd / f"served-{port}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tidings.cli", *args],
            env=dict(env),
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def wait_ready(self) -> None:
        """Return once /readyz answers 200; fail with the output if the process exits first."""
        deadline = time.monotonic() + STARTUP_SECONDS
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"tidings exited with {self.proc.returncode}:\n{self.output}"
                    )
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise AssertionError(f"tidings did not become ready:\n{self.output}")

    def stop(self) -> int:
        """Ctrl-C, as an operator stops it; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
