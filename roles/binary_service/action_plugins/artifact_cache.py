"""artifact_cache: what the controller's artifact cache holds for one release, read in the
controller's own process. It replaces five module runs (file, three stats, unarchive's
`creates` check) that cost about a third of a second each, per component and per run, on a
re-run whose cache is complete (bench/deploy.py, docs/performance.md).

    - artifact_cache:
        dir: ~/.cache/monitoring-stack/prometheus/3.5.3   # the release's cache directory
        archive: prometheus-3.5.3.linux-amd64.tar.gz
        unpacked: prometheus-3.5.3.linux-amd64/prometheus # relative to dir; "" when not unpacked
        checksum: ""                # the pinned "sha256:<hex>"; "" reads sha256sums.txt
      delegate_to: localhost

Returns dir_exists, sums_exists (sha256sums.txt), archive_exists, archive_sha256 (of the
cached archive, "" when there is none), unpacked_exists, expected_sha256 (the pinned one,
else the archive's line in sha256sums.txt; "" when neither has one) and verified: the archive
is there with the expected sha256 and unpacked where asked, so the fetch has nothing left to do
(tasks/fetch.yml skips its other steps). Reads the controller's files only (the artifact
cache lives there); writes nothing, so it runs in check mode as it is.
"""
from __future__ import annotations

import hashlib
import os
import re
from typing import Any

from ansible.plugins.action import ActionBase


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expected_sha256(pinned: str, sums_file: str, archive: str) -> str:
    """The pinned checksum, else the archive's line in the checksum file ("<hex>  <name>",
    "<hex> *<name>", or a bare "<hex>" as in Grafana's .sha256 files), else ""."""
    if pinned:
        return re.sub(r"^sha256:", "", pinned)
    try:
        with open(sums_file, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    for line in lines:
        if re.fullmatch(r"[0-9a-f]{64}", line) or re.search(r"\s\*?" + re.escape(archive) + "$", line):
            return line.split()[0]
    return ""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self._task.args
        unknown = set(args) - {"dir", "archive", "unpacked", "checksum"}
        if unknown or not args.get("dir") or not args.get("archive"):
            result.update(failed=True,
                          msg="artifact_cache needs dir and archive (and optionally unpacked, checksum), "
                              f"got {sorted(args)}")
            return result
        directory = os.path.expanduser(str(args["dir"]))
        archive = os.path.join(directory, str(args["archive"]))
        unpacked = str(args.get("unpacked") or "")
        archive_exists = os.path.isfile(archive)
        sums = os.path.join(directory, "sha256sums.txt")
        expected = expected_sha256(str(args.get("checksum") or ""), sums, str(args["archive"]))
        result.update(
            changed=False,
            dir_exists=os.path.isdir(directory),
            sums_exists=os.path.isfile(sums),
            expected_sha256=expected,
            archive_exists=archive_exists,
            archive_sha256=sha256_of(archive) if archive_exists else "",
            unpacked_exists=bool(unpacked) and os.path.exists(os.path.join(directory, unpacked)),
        )
        result["verified"] = bool(
            archive_exists and re.fullmatch(r"[0-9a-f]{64}", expected) and result["archive_sha256"] == expected
            and (not unpacked or result["unpacked_exists"]))
        return result
