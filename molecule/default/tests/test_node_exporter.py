"""node_exporter on every host of the stack (job "node"), seen through the live Prometheus."""
from __future__ import annotations

import uuid

import pytest

from conftest import host_address, security_score
from test_stack import APP1, APP2, MONITOR, other, query, wait_for

testinfra_hosts = [MONITOR]

HOSTS = [MONITOR, APP1, APP2]
TEXTFILE_DIR = "/var/lib/node_exporter_textfile"
TEXTFILE_GROUP = "node-exporter-textfile"


@pytest.fixture(scope="module")
def instances() -> dict[str, str]:
    """Container name -> the instance label of its node_exporter (primary address:9100)."""
    return {name: f"{host_address(other(name))}:9100" for name in HOSTS}


def by_instance(result: list) -> dict[str, float]:
    return {series["metric"]["instance"]: float(series["value"][1]) for series in result}


def test_node_job_is_up_for_every_host(host, instances):
    wait_for(lambda: by_instance(query(host, 'up{job="node"}')) == {i: 1.0 for i in instances.values()},
             60, what=f'up{{job="node"}} == 1 for exactly {sorted(instances.values())}')


def test_root_filesystem_of_every_host(host, instances):
    free = by_instance(query(host, 'node_filesystem_avail_bytes{job="node", mountpoint="/"}'))
    size = by_instance(query(host, 'node_filesystem_size_bytes{job="node", mountpoint="/"}'))
    assert sorted(free) == sorted(instances.values()), free
    assert all(0 < free[i] <= size[i] for i in free), (free, size)


def test_systemd_collector_sees_the_exporters_own_unit(host, instances):
    """Unit states come over D-Bus from inside the hardened unit: node_exporter.service is active."""
    active = by_instance(query(host, 'node_systemd_unit_state{job="node", name="node_exporter.service", state="active"}'))
    assert active == {i: 1.0 for i in instances.values()}


@pytest.mark.parametrize("name", HOSTS)
def test_unit_is_hardened(name):
    assert security_score(other(name), "node_exporter") <= 2.0


def test_textfile_written_by_a_group_member_reaches_prometheus(host, instances):
    """A batch user in the textfile group writes a 0640 .prom file (atomically, via rename);
    the exporter reads it through the group, and Prometheus stores the value."""
    app = other(APP1)
    app.check_output(f"id batchjob >/dev/null 2>&1 || useradd --system --no-create-home -G {TEXTFILE_GROUP} batchjob")
    value = uuid.uuid4().int % 1_000_000
    app.check_output(
        f"runuser -u batchjob -- sh -c 'umask 027; "
        f"printf \"molecule_textfile_value %d\\n\" {value} > {TEXTFILE_DIR}/.molecule.prom.tmp && "
        f"mv {TEXTFILE_DIR}/.molecule.prom.tmp {TEXTFILE_DIR}/molecule.prom'")
    try:
        # Group-owned through the setgid directory, unreadable for others.
        assert app.file(f"{TEXTFILE_DIR}/molecule.prom").group == TEXTFILE_GROUP
        assert app.file(f"{TEXTFILE_DIR}/molecule.prom").mode == 0o640
        # A user outside the group cannot write there.
        assert app.run(f"runuser -u nobody -- touch {TEXTFILE_DIR}/intruder.prom").rc != 0
        wait_for(lambda: by_instance(query(host, 'molecule_textfile_value{job="node"}')) == {instances[APP1]: float(value)},
                 30, what=f"molecule_textfile_value {value} from {instances[APP1]}")
    finally:
        app.check_output(f"rm -f {TEXTFILE_DIR}/molecule.prom")
