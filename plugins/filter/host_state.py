"""Filters over one `ansible.builtin.find` read of the files a role manages on a host.

Why: on a run with nothing to change, each file/copy/template task still costs a round trip to
the host (file: one module run; copy and template: two, a checksum stat and a file run), 0.3 to
0.7 s each through `docker exec` and most of a re-run's time (docs/performance.md). A role reads
what it manages once, with find (get_checksum, file_type any), and runs each write task only
where the read shows the host differs:

    - ansible.builtin.copy: {content: "{{ _text }}", dest: /etc/x/x.yml, owner: root, group: x, mode: "0640"}
      vars: {_text: "..."}
      when: not (_found | in_place('/etc/x/x.yml', 'root', 'x', '0640', _text | hash('sha1')))

The read compares what the module would enforce (sha1 of the content, owner, group, mode; a
directory for state=directory), so a file changed by hand is still put back. Anything the read
cannot vouch for (no read: a tag skipped it; a path it did not list) counts as "differs": the
task then runs and decides as it always did.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Callable, Mapping
from typing import Any


def _entry(found: Mapping[str, Any] | None, path: str) -> Mapping[str, Any] | None:
    if not isinstance(found, Mapping):
        return None
    for item in found.get("files") or []:
        if isinstance(item, Mapping) and item.get("path") == path:
            return item
    return None


def _mode(value: object) -> int | None:
    try:
        return int(str(value), 8)
    except ValueError:
        return None


def in_place(found: Mapping[str, Any] | None, path: str, owner: str, group: str, mode: str,
             sha1: str | None = None) -> bool:
    """True when the find result lists path with this owner, group and mode, and either as a
    regular file whose checksum is sha1, or (sha1 None) as a directory."""
    item = _entry(found, path)
    if item is None or item.get("pw_name") != owner or item.get("gr_name") != group:
        return False
    if _mode(item.get("mode")) != _mode(mode) or _mode(mode) is None:
        return False
    if sha1 is None:
        return bool(item.get("isdir")) and not item.get("islnk")
    return bool(item.get("isreg")) and not item.get("islnk") and item.get("checksum") == sha1


def not_in_place(entries: list[Mapping[str, Any]], found: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The entries ({path, owner, group, mode, sha1}; sha1 absent or none for a directory) that
    the read does not show in place: what a write task loops over, and (none left) what tells
    the caller it need not include the writes at all. One definition for both."""
    return [e for e in entries
            if not in_place(found, e["path"], e["owner"], e["group"], e["mode"], e.get("sha1"))]


def file_entries(names: list[str], src_dir: str, dest_dir: str, owner: str, group: str,
                 mode: str) -> list[dict[str, str]]:
    """Entries for not_in_place of files copied from the controller's src_dir to dest_dir, each
    with the sha1 of the controller's file (what copy itself compares)."""
    return [{"src": f"{src_dir}/{name}", "path": f"{dest_dir}/{name}", "owner": owner, "group": group,
             "mode": mode, "sha1": file_sha1(f"{src_dir}/{name}")} for name in names]


def checksum_in(found: Mapping[str, Any] | None, path: str) -> str | None:
    """The sha1 the read holds for path, or None (not listed, or not a regular file)."""
    item = _entry(found, path)
    return str(item["checksum"]) if item is not None and item.get("checksum") else None


def read_covers(found: Mapping[str, Any] | None, path: str) -> bool:
    """True when the read looked for path: found.paths (the paths find was given) holds its
    directory and one of found.patterns matches its name."""
    if not isinstance(found, Mapping) or "files" not in found:
        return False
    directory, _, name = path.rpartition("/")
    if (directory or "/") not in [str(p).rstrip("/") or "/" for p in found.get("paths") or []]:
        return False
    return any(fnmatch.fnmatchcase(name, str(p)) for p in found.get("patterns") or [])


def absent_in(found: Mapping[str, Any] | None, path: str) -> bool:
    """True when the read looked for path (read_covers) and does not list it. No read, or a
    read of other directories or names, vouches for nothing."""
    return read_covers(found, path) and _entry(found, path) is None


def newest_mtime(found: Mapping[str, Any] | None, paths: list[str] | None) -> float | None:
    """The newest modification time of paths in the read (0 when none exists), or None when the
    read does not cover every one of them (read_covers): the caller then reads them itself."""
    paths = list(paths or [])
    if not paths or not all(read_covers(found, p) for p in paths):
        return None
    times = [float(item.get("mtime") or 0) for item in (_entry(found, p) for p in paths) if item is not None]
    return max(times, default=0.0)


def link_in(found: Mapping[str, Any] | None, path: str) -> bool:
    """True when the read lists path as a symbolic link (e.g. the link `systemctl enable` makes in
    multi-user.target.wants)."""
    item = _entry(found, path)
    return item is not None and bool(item.get("islnk"))


def source_fingerprint(directory: str) -> str:
    """The first 12 hex digits of the sha256 of `sha256sum` lines ("<sha256>  ./<path>") of the
    project's *.py, *.toml and py.typed files under directory, sorted by path (C locale), the
    top-level ./build left out: what
    `find . -path ./build -prune -o -type f ( -name '*.py' -o ... ) -print | LC_ALL=C sort
    | xargs sha256sum | sha256sum | cut -c1-12` prints, computed in the controller's own process
    (binary_service's wheel cache key; a change of the source makes a new key)."""
    paths: list[str] = []
    for root, dirs, files in os.walk(directory):
        if root == directory and "build" in dirs:
            dirs.remove("build")
        for name in files:
            full = os.path.join(root, name)
            if (name.endswith((".py", ".toml")) or name == "py.typed") and os.path.isfile(full) \
                    and not os.path.islink(full):
                paths.append("./" + os.path.relpath(full, directory))
    lines = []
    for rel in sorted(paths, key=lambda p: p.encode("utf-8", "surrogateescape")):
        with open(os.path.join(directory, rel), "rb") as handle:
            lines.append(f"{hashlib.sha256(handle.read()).hexdigest()}  {rel}\n")
    return hashlib.sha256("".join(lines).encode("utf-8", "surrogateescape")).hexdigest()[:12]


def getent_databases(text: str) -> dict[str, dict[str, list[str]]]:
    """`getent passwd`, a line "#group", then `getent group` (one command: one round trip for
    both) as ansible.builtin.getent returns them: {"passwd": {name: [password, uid, gid, gecos,
    home, shell]}, "group": {name: [password, gid, members]}}."""
    databases: dict[str, dict[str, list[str]]] = {"passwd": {}, "group": {}}
    current = databases["passwd"]
    for line in str(text).splitlines():
        if line == "#group":
            current = databases["group"]
        elif line:
            name, _, rest = line.partition(":")
            current.setdefault(name, rest.split(":"))
    return databases


def file_sha1(path: str) -> str:
    """sha1 of a file on the controller (what find and the copy module compare); "" when it
    cannot be read (the copy then runs and reports the problem)."""
    digest = hashlib.sha1()  # noqa: S324 - the checksum Ansible's copy and find use, not security
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"in_place": in_place, "absent_in": absent_in, "read_covers": read_covers, "file_sha1": file_sha1,
                "newest_mtime": newest_mtime, "link_in": link_in, "not_in_place": not_in_place,
                "file_entries": file_entries, "checksum_in": checksum_in,
                "source_fingerprint": source_fingerprint, "getent_databases": getent_databases}
