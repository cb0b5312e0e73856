"""Fixtures shared by the unit tests in tests/: the real promtool."""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

PROMETHEUS_VERSION = "3.5.3"
CACHE = Path(os.environ.get("MONITORING_STACK_CACHE") or Path.home() / ".cache" / "monitoring-stack")
PROMTOOL_TARBALL = CACHE / "prometheus" / PROMETHEUS_VERSION / f"prometheus-{PROMETHEUS_VERSION}.linux-amd64.tar.gz"
PROMTOOL_MEMBER = f"prometheus-{PROMETHEUS_VERSION}.linux-amd64/promtool"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _extract_cached_promtool(dest: Path) -> Path:
    sums = PROMTOOL_TARBALL.with_name("sha256sums.txt")
    if sums.exists():
        expected = {}
        for line in sums.read_text().splitlines():
            if line.strip():
                digest, name = line.split(maxsplit=1)
                expected[name.strip().lstrip("*")] = digest
        want = expected.get(PROMTOOL_TARBALL.name)
        if want and want != _sha256(PROMTOOL_TARBALL):
            pytest.fail(f"{PROMTOOL_TARBALL}: sha256 does not match {sums}")
    with tarfile.open(PROMTOOL_TARBALL) as tar:
        member = tar.getmember(PROMTOOL_MEMBER)
        src = tar.extractfile(member)
        target = dest / "promtool"
        with target.open("wb") as out:
            shutil.copyfileobj(src, out)
    target.chmod(0o755)
    return target


@pytest.fixture(scope="session")
def promtool(tmp_path_factory) -> str:
    env = os.environ.get("PROMTOOL")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            pytest.fail(f"PROMTOOL={env} is not an executable file")
        return env
    on_path = shutil.which("promtool")
    if on_path:
        return on_path
    if PROMTOOL_TARBALL.is_file():
        return str(_extract_cached_promtool(tmp_path_factory.mktemp("promtool")))
    pytest.skip(
        "promtool not found: set PROMTOOL, put promtool on PATH, or fill the artifact cache "
        f"({PROMTOOL_TARBALL}, see scripts/harness/fill_artifact_cache.py)"
    )
