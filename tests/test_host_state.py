"""plugins/filter/host_state.py: a write is skipped only where find's read vouches for the
exact file (content, owner, group, mode) or directory; anything else runs the task."""
from __future__ import annotations

import hashlib

from filter_plugins import load_filter_plugin

hs = load_filter_plugin("host_state")

SHA1 = "a" * 40
FOUND = {
    "paths": ["/etc/x", "/run/pending"],
    "patterns": ["x.yml", "web.yml", "prometheus", "rules", "link.yml"],
    "files": [
        {"path": "/etc/x/x.yml", "isreg": True, "isdir": False, "islnk": False, "mode": "0640",
         "pw_name": "root", "gr_name": "x", "checksum": SHA1},
        {"path": "/etc/x/rules", "isreg": False, "isdir": True, "islnk": False, "mode": "0750",
         "pw_name": "root", "gr_name": "x"},
        {"path": "/etc/x/link.yml", "isreg": False, "isdir": False, "islnk": True, "mode": "0777",
         "pw_name": "root", "gr_name": "x"},
    ],
}


def test_a_file_with_the_same_content_and_attributes_is_in_place():
    assert hs.in_place(FOUND, "/etc/x/x.yml", "root", "x", "0640", SHA1)


def test_any_difference_runs_the_write():
    assert not hs.in_place(FOUND, "/etc/x/x.yml", "root", "x", "0640", "b" * 40)  # content
    assert not hs.in_place(FOUND, "/etc/x/x.yml", "root", "x", "0644", SHA1)  # mode
    assert not hs.in_place(FOUND, "/etc/x/x.yml", "x", "x", "0640", SHA1)  # owner
    assert not hs.in_place(FOUND, "/etc/x/x.yml", "root", "root", "0640", SHA1)  # group
    assert not hs.in_place(FOUND, "/etc/x/y.yml", "root", "x", "0640", SHA1)  # not listed
    assert not hs.in_place(FOUND, "/etc/x/x.yml", "root", "x", "0640", "")  # sha1 unknown
    assert not hs.in_place(FOUND, "/etc/x/x.yml", "root", "x", "0640")  # a file where a directory is wanted


def test_directories_and_links():
    assert hs.in_place(FOUND, "/etc/x/rules", "root", "x", "0750")
    assert not hs.in_place(FOUND, "/etc/x/rules", "root", "x", "0750", SHA1)
    assert not hs.in_place(FOUND, "/etc/x/link.yml", "root", "x", "0777", SHA1)


def test_no_read_vouches_for_nothing():
    assert not hs.in_place(None, "/etc/x/x.yml", "root", "x", "0640", SHA1)
    assert not hs.absent_in(None, "/etc/x/gone.yml")
    assert not hs.absent_in({"files": []}, "/etc/x/gone.yml")  # which directories it read is unknown


def test_absent_only_in_a_directory_the_read_searched():
    assert hs.absent_in(FOUND, "/etc/x/web.yml")
    assert hs.absent_in(FOUND, "/run/pending/prometheus")
    assert not hs.absent_in(FOUND, "/etc/x/x.yml")
    assert not hs.absent_in(FOUND, "/etc/other/web.yml")
    assert not hs.absent_in(FOUND, "/run/pending/alertmanager")  # a name the read did not look for


def test_the_source_fingerprint_is_the_shell_pipelines(tmp_path):
    """source_fingerprint replaced `find | sort | xargs sha256sum | sha256sum | cut -c1-12` (the
    wheel archive's cache key): the same key for the same source, so caches stay valid."""
    import subprocess

    for rel, text in {"pyproject.toml": "x", "src/a.py": "a", "src/B.py": "b", "src/pkg/py.typed": "",
                      "build/lib/skipped.py": "s", "src/build/kept.py": "k", "README.md": "not hashed"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    shell = subprocess.run(
        ["bash", "-c", "set -o pipefail; find . -path ./build -prune -o -type f \\( -name '*.py' -o -name '*.toml' "
                       "-o -name 'py.typed' \\) -print | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12"],
        cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert hs.source_fingerprint(str(tmp_path)) == shell
    (tmp_path / "src/a.py").write_text("changed")
    assert hs.source_fingerprint(str(tmp_path)) != shell


def test_getent_databases_have_the_getent_modules_shape():
    text = ("root:x:0:0:root:/root:/bin/bash\nprometheus:x:999:998::/var/lib/prometheus:/usr/sbin/nologin\n"
            "#group\nroot:x:0:\nmonitoring-tls:x:997:prometheus,alertmanager\n")
    assert hs.getent_databases(text) == {
        "passwd": {"root": ["x", "0", "0", "root", "/root", "/bin/bash"],
                   "prometheus": ["x", "999", "998", "", "/var/lib/prometheus", "/usr/sbin/nologin"]},
        "group": {"root": ["x", "0", ""], "monitoring-tls": ["x", "997", "prometheus,alertmanager"]},
    }


def test_not_in_place_keeps_only_the_entries_the_read_does_not_vouch_for():
    in_place = {"path": "/etc/x/x.yml", "owner": "root", "group": "x", "mode": "0640", "sha1": SHA1}
    other_content = dict(in_place, sha1="b" * 40)
    directory = {"path": "/etc/x/rules", "owner": "root", "group": "x", "mode": "0750"}
    other_owner = dict(directory, owner="x")
    assert hs.not_in_place([in_place, other_content, directory, other_owner], FOUND) == [other_content, other_owner]
    assert hs.not_in_place([in_place, directory], None) == [in_place, directory]  # no read: every write runs


def test_file_entries_carry_the_controllers_sha1(tmp_path):
    (tmp_path / "prometheus").write_bytes(b"binary")
    (entry,) = hs.file_entries(["prometheus"], str(tmp_path), "/usr/local/bin", "root", "root", "0755")
    assert entry == {"src": f"{tmp_path}/prometheus", "path": "/usr/local/bin/prometheus", "owner": "root",
                     "group": "root", "mode": "0755", "sha1": hashlib.sha1(b"binary").hexdigest()}  # noqa: S324
    assert hs.file_entries(["missing"], str(tmp_path), "/x", "root", "root", "0755")[0]["sha1"] == ""


def test_checksum_in_reads_a_regular_files_checksum_only():
    assert hs.checksum_in(FOUND, "/etc/x/x.yml") == SHA1
    assert hs.checksum_in(FOUND, "/etc/x/rules") is None  # a directory has none
    assert hs.checksum_in(FOUND, "/etc/x/gone.yml") is None
    assert hs.checksum_in(None, "/etc/x/x.yml") is None
