"""roles/binary_service/action_plugins/artifact_cache.py: the one parser of the expected sha256
(the cache read and the fetch after a download both use it)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "roles/binary_service/action_plugins/artifact_cache.py"
_spec = importlib.util.spec_from_file_location("artifact_cache", _PATH)
assert _spec and _spec.loader
artifact_cache = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(artifact_cache)

A, B = "a" * 64, "b" * 64


def test_the_archive_line_of_a_checksum_file(tmp_path):
    sums = tmp_path / "sha256sums.txt"
    sums.write_text(f"{B}  other-1.0.linux-amd64.tar.gz\n{A}  x-1.0.linux-amd64.tar.gz\n")
    assert artifact_cache.expected_sha256("", str(sums), "x-1.0.linux-amd64.tar.gz") == A
    sums.write_text(f"{A} *x-1.0.linux-amd64.tar.gz\n")
    assert artifact_cache.expected_sha256("", str(sums), "x-1.0.linux-amd64.tar.gz") == A


def test_a_bare_digest_and_a_pinned_one(tmp_path):
    sums = tmp_path / "sha256sums.txt"
    sums.write_text(f"{A}\n")
    assert artifact_cache.expected_sha256("", str(sums), "grafana_1.0_amd64.deb") == A
    assert artifact_cache.expected_sha256(f"sha256:{B}", str(sums), "grafana_1.0_amd64.deb") == B


def test_no_line_for_the_archive_or_no_file(tmp_path):
    sums = tmp_path / "sha256sums.txt"
    sums.write_text(f"{B}  other-1.0.linux-amd64.tar.gz\n")
    assert artifact_cache.expected_sha256("", str(sums), "x-1.0.linux-amd64.tar.gz") == ""
    assert artifact_cache.expected_sha256("", str(tmp_path / "missing"), "x-1.0.linux-amd64.tar.gz") == ""
