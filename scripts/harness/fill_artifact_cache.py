#!/usr/bin/env python3
"""Fill the controller's artifact cache from Debian's official builds.

GitHub (where upstream release archives live) is not reachable from this test machine, but
Debian's archive is, and Debian forky carries real builds of the pinned upstream releases.
This script turns those packages into *release-layout* archives
(``<name>-<version>.linux-<arch>/<binary>``, ``.tar.gz``; redis_exporter's upstream names
carry ``v<version>``; VictoriaMetrics' are ``<name>-linux-<arch>-v<version>.tar.gz`` with the
binary at the top) plus a ``sha256sums.txt`` and
places them where the roles' shared artifact mechanism (roles/binary_service) looks first.
The roles then run their normal cached-artifact path, exactly as on an air-gapped site.

Trust chain: InRelease is checked with gpgv against Debian's archive keyring, Packages.xz
against InRelease's SHA256, every .deb against Packages' SHA256.

Debian's builds differ from upstream archives in a few data files (see DEVELOPERS.md);
those are extracted to ``<cache>/debian-data/<name>/`` for test preparation to supply.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = os.environ.get("ARTIFACT_SUITE", "forky")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

# component -> (Debian packages, upstream version, {path in .deb: name in archive}, data files)
COMPONENTS: dict[str, tuple[list[str], str, dict[str, str], list[str]]] = {
    "prometheus": (
        ["prometheus", "promtool"], "3.5.3",
        {"usr/bin/prometheus": "prometheus", "usr/bin/promtool": "promtool"}, [],
    ),
    "alertmanager": (
        ["prometheus-alertmanager"], "0.33.1",
        {"usr/bin/prometheus-alertmanager": "alertmanager", "usr/bin/amtool": "amtool"},
        ["usr/share/prometheus/alertmanager/default.tmpl",
         "usr/share/prometheus/alertmanager/email.tmpl"],
    ),
    "blackbox_exporter": (
        ["prometheus-blackbox-exporter"], "0.28.0",
        {"usr/bin/prometheus-blackbox-exporter": "blackbox_exporter"}, [],
    ),
    "pushgateway": (
        ["prometheus-pushgateway"], "1.11.2",
        {"usr/bin/prometheus-pushgateway": "pushgateway"}, [],
    ),
    "node_exporter": (
        ["prometheus-node-exporter"], "1.11.1",
        {"usr/bin/prometheus-node-exporter": "node_exporter"}, [],
    ),
    "redis_exporter": (
        ["prometheus-redis-exporter"], "1.86.0",
        {"usr/bin/prometheus-redis-exporter": "redis_exporter"}, [],
    ),
    "postgres_exporter": (
        ["prometheus-postgres-exporter"], "0.19.1",
        {"usr/bin/prometheus-postgres-exporter": "postgres_exporter"}, [],
    ),
    # The long-term store (roles/victoriametrics): the single-node server only.
    "victoria-metrics": (
        ["victoria-metrics"], "1.145.0",
        {"usr/bin/victoria-metrics": "victoria-metrics-prod"}, [],
    ),
}
# Upstream archives that put a "v" before the version in their names
# (redis_exporter-v1.86.0.linux-amd64.tar.gz, unpacking to redis_exporter-v1.86.0.linux-amd64/).
VERSION_PREFIX: dict[str, str] = {"redis_exporter": "v"}
# Upstream archives named <name>-linux-<arch>-v<version>.tar.gz with the binaries at the top
# (no directory): VictoriaMetrics' victoria-metrics-linux-amd64-v1.145.0.tar.gz holds
# victoria-metrics-prod.
FLAT: frozenset[str] = frozenset({"victoria-metrics"})


def stem(name: str, version: str, arch: str) -> str:
    if name in FLAT:
        return f"{name}-linux-{arch}-v{version}"
    return f"{name}-{VERSION_PREFIX.get(name, '')}{version}.linux-{arch}"


def fetch(url: str) -> bytes:
    last: Exception | None = None
    for _ in range(3):
        try:
            with urllib.request.urlopen(url, timeout=120) as resp:
                data: bytes = resp.read()
                return data
        except OSError as exc:  # retry transient mirror errors
            last = exc
    raise SystemExit(f"fill-cache: cannot fetch {url}: {last}")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def packages_index(arch: str) -> dict[str, dict[str, str]]:
    inrelease = fetch(f"{MIRROR}/dists/{SUITE}/InRelease")
    with tempfile.NamedTemporaryFile() as tmp:
        tmp.write(inrelease)
        tmp.flush()
        check = subprocess.run(["gpgv", "--keyring", KEYRING, tmp.name], capture_output=True)
        if check.returncode != 0:
            raise SystemExit(f"fill-cache: InRelease signature invalid:\n{check.stderr.decode()}")
    rel = f"main/binary-{arch}/Packages.xz"
    m = re.search(rf"^ ([0-9a-f]{{64}})\s+\d+\s+{re.escape(rel)}$", inrelease.decode(), re.M)
    if not m:
        raise SystemExit(f"fill-cache: {rel} not listed in InRelease")
    packed = fetch(f"{MIRROR}/dists/{SUITE}/{rel}")
    if sha256(packed) != m.group(1):
        raise SystemExit(f"fill-cache: {rel} checksum mismatch")
    index: dict[str, dict[str, str]] = {}
    for stanza in lzma.decompress(packed).decode().split("\n\n"):
        fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.M))
        if "Package" in fields:
            index[fields["Package"]] = fields
    return index


def is_cached(name: str, arch: str, cache: Path) -> bool:
    _, version, _, data_files = COMPONENTS[name]
    dest = cache / name / version
    return (dest / f"{stem(name, version, arch)}.tar.gz").exists() \
        and (dest / "sha256sums.txt").exists() \
        and all((cache / "debian-data" / name / Path(rel).name).exists() for rel in data_files)


def build(name: str, arch: str, cache: Path, index: dict[str, dict[str, str]]) -> None:
    pkgs, version, binaries, data_files = COMPONENTS[name]
    top = stem(name, version, arch)
    dest = cache / name / version
    archive = dest / f"{top}.tar.gz"
    if is_cached(name, arch, cache):
        print(f"fill-cache: {archive} already cached")
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "root")
        for pkg in pkgs:
            entry = index.get(pkg)
            if entry is None:
                raise SystemExit(f"fill-cache: {pkg} not in Debian {SUITE}")
            deb_version = entry["Version"].split(":")[-1].split("+")[0].split("-")[0]
            if deb_version != version:
                raise SystemExit(
                    f"fill-cache: Debian {SUITE} has {pkg} {entry['Version']}, pinned {version}")
            deb = fetch(f"{MIRROR}/{entry['Filename']}")
            if sha256(deb) != entry["SHA256"]:
                raise SystemExit(f"fill-cache: {entry['Filename']} checksum mismatch")
            debfile = Path(tmp, f"{pkg}.deb")
            debfile.write_bytes(deb)
            subprocess.run(["dpkg-deb", "-x", str(debfile), str(root)], check=True)
            print(f"fill-cache: unpacked Debian {SUITE} {pkg} {entry['Version']}")
        buf = io.BytesIO()
        # Deterministic archive: same bytes (and sha256) on every machine.
        with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w") as tar:
            for src, target in binaries.items():
                info = tar.gettarinfo(str(root / src), arcname=target if name in FLAT else f"{top}/{target}")
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                info.mode = 0o755
                with open(root / src, "rb") as fh:
                    tar.addfile(info, fh)
        dest.mkdir(parents=True, exist_ok=True)
        data = buf.getvalue()
        archive.write_bytes(data)
        (dest / "sha256sums.txt").write_text(f"{sha256(data)}  {archive.name}\n")
        for rel in data_files:
            data_file = cache / "debian-data" / name / Path(rel).name
            data_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, data_file)
    print(f"fill-cache: wrote {archive}")


def main() -> int:
    default_cache = os.environ.get("MONITORING_STACK_CACHE") or str(Path.home() / ".cache/monitoring-stack")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=default_cache, help="artifact cache directory")
    parser.add_argument("--arch", default="amd64")
    parser.add_argument("components", nargs="*", default=list(COMPONENTS))
    args = parser.parse_args()
    cache = Path(args.cache)
    pending = [c for c in args.components if not is_cached(c, args.arch, cache)]
    index = packages_index(args.arch) if pending else {}
    for name in args.components:
        build(name, args.arch, cache, index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
