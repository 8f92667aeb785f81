"""netlab: topologies are validated, prerequisites give a clear message, and every namespace and
process a lab made is gone afterwards: on a normal exit, on an exception, on SIGTERM, and (for
runs that died) through `cleanup`. Needs root and iproute2, like the tool."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.core import tools
from loadtests.core.service import Tcp
from loadtests.netlab import (
    Host,
    Lab,
    Link,
    NetlabError,
    Topology,
    TopologyError,
    check_prerequisites,
)
from loadtests.netlab.lab import CPU_LATENCY_QOS, namespaces
from loadtests.tests.nobody import as_nobody

REPO = tools.REPO
BIN = tools.delay_echo().path
LINK_BIN = tools.link().path
TWO = Topology(
    hosts=(Host("client"), Host("server", ports=(8080,))), links=(Link("client", "server", 3),)
)


def ours(run_id: str) -> list[str]:
    return [ns for ns in namespaces() if ns.startswith(run_id + ".")]


def pids_in(run_id: str) -> list[int]:
    """The processes running in a run's namespaces."""
    out = [
        subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
        for ns in ours(run_id)
    ]
    return [int(p) for o in out for p in o.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent has not reaped it yet).
    return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.mark.parametrize(
    "topo,message",
    [
        ({"hosts": []}, "at least one host"),
        ({"hosts": [{"name": "a b"}]}, "allowed: letters, digits"),
        ({"hosts": [{"name": "a"}, {"name": "a"}]}, "host names repeat"),
        ({"hosts": [{"name": "a", "ports": [0]}]}, "allowed: 1-65535"),
        (
            {"hosts": [{"name": "a"}], "links": [{"a": "a", "b": "z", "delay_ms": 1}]},
            "unknown host 'z'",
        ),
        (
            {
                "hosts": [{"name": "a"}, {"name": "b"}],
                "links": [{"a": "a", "b": "b", "delay_ms": -1}],
            },
            "allowed: 0 to",
        ),
        (
            {
                "hosts": [{"name": "a"}, {"name": "b"}],
                "links": [{"a": "a", "b": "b"}, {"a": "b", "b": "a"}],
            },
            "declared twice",
        ),
        ({"hosts": [{"nom": "a"}]}, "not a topology"),
    ],
)
def test_a_bad_topology_says_what_is_allowed(topo, message):
    with pytest.raises(TopologyError, match=message):
        Topology.from_dict(topo)


def test_a_link_has_a_delay_each_way():
    t = Topology.from_dict(
        {
            "hosts": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
            "links": [{"a": "a", "b": "b", "delay_ms": 5, "back_ms": 7}],
        }
    )
    assert (t.one_way_ms("a", "b"), t.one_way_ms("b", "a"), t.one_way_ms("a", "c")) == (5, 7, 0)


def test_missing_root_or_iproute2_stops_with_what_to_do():
    with pytest.raises(NetlabError, match=r"needs iproute2 .*apt-get install iproute2"):
        check_prerequisites(euid=0, which=lambda tool: None)
    with pytest.raises(NetlabError, match=r"needs root .*uid 1000"):
        check_prerequisites(euid=1000, which=lambda tool: f"/usr/sbin/{tool}")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtests.netlab", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_without_iproute2_or_root_exits_2_at_once():
    r = cli("check", env={"PATH": "/nonexistent"})
    assert r.returncode == 2 and "needs iproute2" in r.stderr, r
    with as_nobody() as nobody:
        r = nobody.run("loadtests.netlab", "check")
    assert r.returncode == 2 and "needs root" in r.stderr, r


@pytest.mark.live
@pytest.mark.netns
def test_check_says_which_delay_mechanism_it_uses():
    r = cli("check")
    assert r.returncode == 0, r
    assert "link delays by tc netem" in r.stdout or "link delays by the user-space link" in r.stdout


@pytest.mark.live
@pytest.mark.netns
def test_the_mechanism_is_netem_where_the_kernel_has_it_else_the_user_space_link(tmp_path):
    probe = Lab(TWO, link_bin=LINK_BIN, log_dir=tmp_path)
    with probe as lab:
        chosen = lab.mechanism
        assert chosen in ("netem", "userspace")
    if chosen == "userspace":
        # No netem here: asking for it is refused with the kernel's reason, and nothing is left.
        lab = Lab(TWO, mechanism="netem", link_bin=LINK_BIN, log_dir=tmp_path)
        with pytest.raises(NetlabError, match="this kernel has none"), lab:
            pass
        assert ours(lab.run_id) == []


@pytest.mark.live
@pytest.mark.netns
def test_a_lab_gives_hosts_that_reach_each_other_and_leaves_nothing_behind(tmp_path):
    with Lab(TWO, link_bin=LINK_BIN, log_dir=tmp_path) as lab:
        run_id = lab.run_id
        assert set(lab.hosts) == {"client", "server"} and lab.mechanism in ("netem", "userspace")
        server = lab.run(
            "server", [str(BIN), "--listen", "0.0.0.0:8080", "--delay", "0", "--instance-id", "s1"]
        )
        lab.wait_tcp("server", 8080)
        fetch = "import urllib.request,sys; r=urllib.request.urlopen(sys.argv[1], timeout=5); print(r.headers['X-Instance-Id'])"
        out = lab.exec(
            "client", [sys.executable, "-c", fetch, lab.url("server", 8080, "/x")], timeout=20
        ).stdout
        assert out.strip() == "s1"
        pids = pids_in(run_id)
        assert server.pid in pids, "the server runs inside the lab's namespaces"
    assert ours(run_id) == []
    assert not [p for p in pids if alive(p)], "every process started in the lab was stopped"


def cpu_latency_target() -> int:
    fd = os.open(CPU_LATENCY_QOS, os.O_RDONLY)
    try:
        return struct.unpack("i", os.read(fd, 4))[0]
    finally:
        os.close(fd)


@pytest.mark.live
@pytest.mark.netns
@pytest.mark.skipif(not CPU_LATENCY_QOS.exists(), reason="no PM QoS interface in this kernel")
def test_an_awake_lab_holds_idle_cpus_polling_while_up_and_lets_go_after(tmp_path):
    before = cpu_latency_target()
    with pytest.raises(RuntimeError, match="study failed"), Lab(TWO, link_bin=LINK_BIN, log_dir=tmp_path, awake=True) as lab:  # fmt: skip
        assert lab.awake and cpu_latency_target() == 0
        raise RuntimeError("study failed")
    assert not lab.awake and cpu_latency_target() == before
    with Lab(TWO, link_bin=LINK_BIN, log_dir=tmp_path) as lab:
        assert not lab.awake, "only when asked"


@pytest.mark.live
@pytest.mark.netns
def test_an_exception_inside_the_lab_still_removes_it(tmp_path):
    with (
        pytest.raises(RuntimeError, match="study failed"),
        Lab(TWO, link_bin=LINK_BIN, log_dir=tmp_path) as lab,
    ):
        run_id = lab.run_id
        lab.run("server", ["sleep", "60"])
        raise RuntimeError("study failed")
    assert ours(run_id) == []


@pytest.mark.live
@pytest.mark.netns
def test_a_failure_while_building_removes_what_was_built(tmp_path):
    lab = Lab(TWO, mechanism="userspace", link_bin=tmp_path / "no-such-binary", log_dir=tmp_path)
    with pytest.raises(NetlabError, match="needs the delay-echo-link binary"), lab:
        pass
    assert lab.run_id and ours(lab.run_id) == []


@pytest.mark.live
@pytest.mark.netns
def test_sigterm_to_a_running_lab_removes_everything(tmp_path):
    topo = tmp_path / "topo.json"
    topo.write_text(
        json.dumps(
            {
                "hosts": [{"name": "a"}, {"name": "b", "ports": [9000]}],
                "links": [{"a": "a", "b": "b", "delay_ms": 2}],
            }
        )
    )
    p = subprocess.Popen(
        [sys.executable, "-m", "loadtests.netlab", "up", str(topo), "--json", "--hold", "60"],
        cwd=REPO,
        env={**os.environ, "DELAY_ECHO_BIN": str(BIN)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None
        lines = []
        for line in p.stdout:
            lines.append(line)
            if line.startswith("}"):
                break
        run_id = json.loads("".join(lines))["run"]
        assert ours(run_id), "the lab is up"
        pids = pids_in(run_id)
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, p.stderr.read() if p.stderr else ""
    assert ours(run_id) == []
    assert not [x for x in pids if alive(x)]


@pytest.mark.live
@pytest.mark.netns
def test_cleanup_removes_leftovers_of_dead_runs_only():
    # The pid of a finished process: a run whose owner is gone.
    dead = subprocess.Popen(["true"])
    dead.wait()
    leftover = f"netlabtest-{dead.pid}-abc123.x"
    live = f"netlabtest-{os.getpid()}-abc123.y"
    for ns in (leftover, live):
        subprocess.run(["ip", "netns", "add", ns], check=True)
    holder = subprocess.Popen(["ip", "netns", "exec", leftover, "sleep", "60"])
    try:
        time.sleep(0.2)
        r = cli("cleanup", "--prefix", "netlabtest")
        assert r.returncode == 0, r
        assert leftover not in namespaces() and live in namespaces()
        holder.wait(10)
        r = cli("cleanup", "--prefix", "netlabtest", "--all")
        assert live not in namespaces()
    finally:
        holder.kill()
        for ns in (leftover, live):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.mark.live
@pytest.mark.netns
def test_a_process_that_exits_before_it_is_ready_says_why(tmp_path):
    with Lab(TWO, link_bin=LINK_BIN, log_dir=tmp_path) as lab:
        run_id = lab.run_id
        with pytest.raises(NetlabError, match=r"(?s)exited with status 2 before it was ready.*no such flag"):  # fmt: skip
            lab.run(
                "server",
                ["sh", "-c", "echo no such flag >&2; exit 2"],
                ready=Tcp(lab.address("server"), 8080),
            )
    assert ours(run_id) == []


def test_a_setting_from_its_env_twin_is_judged_as_the_flag_is(tmp_path):
    topo = tmp_path / "topo.json"
    topo.write_text('{"hosts": [{"name": "a"}]}')
    for r in (
        cli("up", str(topo), env={"NETLAB_MECHANISM": "bogus"}),
        cli("up", str(topo), "--mechanism", "bogus"),
    ):
        assert r.returncode == 2 and "'bogus'; allowed: auto, netem, userspace" in r.stderr, r
