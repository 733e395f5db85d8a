"""The web SDK's own tests (node --test), its committed bundle and its size budget."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk" / "web"
STATIC = ROOT / "src" / "tidings" / "sdk" / "static"
BUDGET_GZIP_BYTES = 35 * 1024


def _npm() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    require_service(None if node and npm else "Node.js and npm are not installed")
    assert npm is not None
    return npm


@pytest.fixture(scope="module")
def npm() -> str:
    npm = _npm()
    if not (SDK / "node_modules" / ".bin" / "esbuild").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SDK, check=True, timeout=600)
    return npm


def test_unit_tests_pass(npm: str) -> None:
    run = subprocess.run(
        [npm, "test"], cwd=SDK, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "# fail 0" in run.stdout
    assert "spec/targeting/cases.json:" in run.stdout


def test_committed_bundle_matches_the_source(npm: str, tmp_path: Path) -> None:
    sdk, sw = tmp_path / "tidings.js", tmp_path / "tidings-sw.js"
    subprocess.run(
        ["node", "scripts/build.mjs", str(sdk), str(sw)], cwd=SDK, check=True, timeout=300
    )
    assert sdk.read_bytes() == (STATIC / "tidings.js").read_bytes(), (
        "src/tidings/sdk/static/tidings.js is stale: run `npm run build` in sdk/web"
    )
    assert sw.read_bytes() == (STATIC / "tidings-sw.js").read_bytes(), (
        "src/tidings/sdk/static/tidings-sw.js is stale: run `npm run build` in sdk/web"
    )


def test_bundle_fits_the_size_budget() -> None:
    size = len(gzip.compress((STATIC / "tidings.js").read_bytes(), compresslevel=9))
    assert size <= BUDGET_GZIP_BYTES, f"{size} bytes gzipped; the budget is {BUDGET_GZIP_BYTES}"


def test_package_is_publishable() -> None:
    import json

    pkg = json.loads((SDK / "package.json").read_text())
    assert pkg["name"] == "@tidings/web"
    assert pkg["version"] == "0.1.0"
    assert pkg["license"] == "MIT"
    assert pkg["types"]
    assert pkg["files"]
    assert (SDK / "package-lock.json").exists()
