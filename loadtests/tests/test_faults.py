"""FAULTS: the knob's grammar (what it takes, what it refuses and how it says so), and the runner's
timing and undo on stand-in instances (`sleep` processes and a fake PUT /config), no platform."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from loadtests.core import tools
from loadtests.core.events import EventLog, read
from loadtests.localplatform import faults as faults_mod
from loadtests.localplatform.config import WARM, Config, KnobError, check_faults
from loadtests.localplatform.faults import Fault, FaultRunner, FaultSyntaxError, parse_faults
from loadtests.localplatform.instances import Instance, ServiceArgs

REPO = Path(__file__).resolve().parents[2]
BIN = tools.delay_echo().path  # judges a slow fault's values, as it does COLD_START
pytestmark = pytest.mark.platform
TOKEN = "0123456789abcdef0123"


# -- grammar ---------------------------------------------------------------------------------------


def test_the_issue_example_parses_in_order_with_the_defaults():
    kill, hang, slow = parse_faults("kill@30s,hang@45s:10s,slow@60s:20s:cpu=40ms")
    assert kill == Fault(1, "kill", 30.0, 0.0, "newest", (), "kill@30s")
    assert (hang.kind, hang.at, hang.duration, hang.end, hang.which) == (
        "hang",
        45.0,
        10.0,
        55.0,
        "newest",
    )
    assert (slow.number, slow.settings, slow.which) == (3, (("cpu", "40ms"),), "newest")


@pytest.mark.parametrize(
    ("text", "which", "settings"),
    [
        ("kill@1m30s:oldest", "oldest", ()),
        ("kill@0:local-3", "local-3", ()),
        ("hang@2.5s:500ms:local-12", "local-12", ()),
        ("slow@10s:5s:delay=1.5s", "newest", (("delay", "1500ms"),)),
        (
            "slow@10s:5s:cpu=250us:delay=80ms:oldest",
            "oldest",
            (("cpu", "250us"), ("delay", "80ms")),
        ),
    ],
)
def test_good_faults(text, which, settings):
    (f,) = parse_faults(text)
    assert (f.which, f.settings, f.spec) == (which, settings, text)


def test_empty_means_no_faults_and_spaces_are_ignored():
    assert parse_faults("") == ()
    assert [f.kind for f in parse_faults(" kill@1s , hang@2s:1s ")] == ["kill", "hang"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("crash@30s", "kinds: kill | hang | slow"),
        ("kill30s", "is not KIND@T"),
        ("kill@soon", "T='soon' is not a duration"),
        ("kill@30", "T='30' is not a duration"),  # a bare number is not a duration here
        ("hang@45s", "a hang needs its duration"),
        ("hang@45s:0", "the duration must be above 0"),
        ("hang@45s:10x", "DUR='10x' is not a duration"),
        ("kill@30s:10s", "'10s' names no instance; allowed: newest, oldest or local-N"),
        ("kill@30s:youngest", "names no instance"),
        ("kill@30s:cpu=40ms", "only slow takes cpu="),
        ("slow@60s:20s", "a slow needs what to raise"),
        ("slow@60s:20s:oldest", "a slow needs what to raise"),
        (
            "slow@60s:20s:memory=1ms",
            "'memory' is not a setting slow can raise; allowed: cpu | delay",
        ),
        ("slow@60s:20s:cpu=lots", "cpu='lots' is not a duration"),
        ("slow@60s:20s:cpu=1ms:cpu=2ms", "cpu is given twice"),
        ("kill@30s:oldest:extra", "unexpected 'extra'"),
        (
            "hang@10s:10s,hang@15s:1s",
            "overlap; allowed: one hang at a time (the second may start at 20s",
        ),
        ("slow@1s:5s:cpu=1ms,slow@5s:5s:delay=1ms", "one slow at a time"),
    ],
)
def test_bad_faults_say_what_is_allowed(text, says):
    with pytest.raises(FaultSyntaxError) as e:
        parse_faults(text)
    assert says in str(e.value)


def test_back_to_back_spans_and_different_kinds_may_overlap():
    assert len(parse_faults("hang@10s:10s,hang@20s:1s,slow@12s:20s:cpu=1ms,kill@15s")) == 4


def test_a_bad_knob_is_a_knob_error_naming_faults_before_anything_starts():
    with pytest.raises(KnobError, match=r"^FAULTS: 'kill@x': .*allowed"):
        Config.from_env({"POLICY": "knative", "FAULTS": "kill@x"}, REPO)
    with pytest.raises(KnobError, match="RUNTIME=process only"):
        Config.from_env({"POLICY": "knative", "FAULTS": "kill@1s", "RUNTIME": "container"}, REPO)
    cfg = Config.from_env({"POLICY": "knative", "FAULTS": "kill@30s:oldest"}, REPO)
    assert [f.spec for f in cfg.faults] == ["kill@30s:oldest"]
    assert Config.from_env({"POLICY": "knative"}, REPO).faults == ()


def test_the_command_exits_2_with_the_reason(tmp_path):
    import os
    import sys

    p = subprocess.run(
        [sys.executable, "-m", "loadtests.localplatform", "run", "--no-report"],
        cwd=REPO,
        env={**os.environ, "POLICY": "knative", "FAULTS": "hang@45s", "RESULTS": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2, p.stderr
    assert "FAULTS: 'hang@45s': a hang needs its duration" in p.stderr
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


def test_a_campaign_configuration_with_bad_faults_is_refused_before_its_first_run():
    from loadtests.campaign import preflight, spec

    campaign = spec.parse(
        {
            "name": "x",
            "repetitions": 2,
            "configs": [{"name": "a", "POLICY": "knative", "FAULTS": "kill@30s:youngest"}],
        }
    )
    with pytest.raises(spec.CampaignError, match=r"configs 'a': FAULTS: 'kill@30s:youngest'"):
        preflight.check(campaign)


@pytest.mark.live  # asks the built binary, as COLD_START's check does
def test_a_slow_delay_echo_would_refuse_stops_the_run_with_its_reason(tmp_path):
    import os
    import sys

    p = subprocess.run(
        [sys.executable, "-m", "loadtests.localplatform", "run", "--no-report"],
        cwd=REPO,
        env={
            **os.environ,
            "POLICY": "knative",
            "FAULTS": "kill@1s,slow@5s:1s:cpu=2s",
            "RESULTS": str(tmp_path),
            "DELAY_ECHO_BIN": str(tools.delay_echo().require()),
            "COLD_START": "1s",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2, p.stderr
    assert "FAULTS: 'slow@5s:1s:cpu=2s': 2000ms exceeds the maximum 1s" in p.stderr
    assert not list(tmp_path.iterdir())
    check_faults(BIN, parse_faults("slow@5s:1s:cpu=40ms:delay=200ms"))  # taken


def test_the_token_goes_to_the_instance_in_its_environment_not_its_argv():
    args = ServiceArgs(10, "80ms", 100, 2.0, control_token=TOKEN)
    assert args.env() == {"DELAY_ECHO_CONTROL_TOKEN": TOKEN}
    assert TOKEN not in args.argv("local-1", WARM)
    assert ServiceArgs(10, "80ms", 100, 2.0).env() is None


# -- the runner on stand-ins -------------------------------------------------------------------------


class FakeControl(BaseHTTPRequestHandler):
    """GET/PUT /config as delay-echo answers them, for the fields a slow fault touches."""

    defaults: dict[str, Any]
    puts: list[dict[str, Any]]

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(200, {"defaults": dict(self.server.defaults)})  # type: ignore[attr-defined]

    def do_PUT(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(401, {"error": "missing or wrong bearer token"})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.puts.append(body)  # type: ignore[attr-defined]
        self.server.defaults.update(body)  # type: ignore[attr-defined]
        self._answer(200, {"defaults": dict(self.server.defaults)})  # type: ignore[attr-defined]

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def control() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeControl)
    srv.defaults = {"delay": "80ms", "cpu": None}  # type: ignore[attr-defined]
    srv.puts = []  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def fleet(control) -> Iterator[list[Instance]]:
    """Two serving stand-ins: `sleep` processes (signals) answering /config on the fake's port."""
    out = []
    for n in (1, 2):
        inst = Instance(f"local-{n}", control.server_address[1], WARM)
        inst.proc = subprocess.Popen(["sleep", "60"])
        inst.times = {"requested": 100.0 + n, "ready": 101.0 + n, "in_rotation": 102.0 + n}
        out.append(inst)
    yield out
    for inst in out:
        assert inst.proc is not None
        if inst.proc.poll() is None:
            inst.proc.kill()
        inst.proc.wait()


def no_status(name: str) -> str | None:
    return None


def stopped(inst: Instance) -> bool:
    """Whether the process is stopped, once the signal just sent has been delivered (it is
    asynchronous: give it up to 2 s on a busy machine)."""
    assert inst.proc is not None
    states = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        text = Path(f"/proc/{inst.proc.pid}/stat").read_text()
        states.append(text[text.rindex(")") + 2] == "T")
        if len(states) > 1 and states[-1] == states[-2]:
            return states[-1]
        time.sleep(0.02)
    return states[-1]


def runner(
    tmp_path: Path, spec: str, fleet: list[Instance], status: dict[str, str]
) -> tuple[FaultRunner, EventLog]:
    log = EventLog(tmp_path / "platform.jsonl")
    r = FaultRunner(parse_faults(spec), log, lambda: list(fleet), status.get, token=TOKEN)
    r.start(t0=1000.0, t0_epoch=5000.0, background=False)  # tick() drives it on the test's clock
    return r, log


def events(tmp_path: Path) -> list[dict[str, Any]]:
    return [e for e in read(tmp_path / "platform.jsonl") if e["event"].startswith("fault_")]


def test_nothing_happens_before_its_time_and_a_kill_hits_the_newest(tmp_path, fleet):
    r, log = runner(tmp_path, "kill@5s", fleet, {})
    r.tick(1004.9)
    assert events(tmp_path) == []
    r.tick(1005.0)
    applied, exited = events(tmp_path)
    assert applied["event"] == "fault_applied"
    assert (applied["instance"], applied["fault"], applied["planned"], applied["planned_s"]) == (
        "local-2",
        1,
        5005.0,
        5.0,
    )
    assert (exited["event"], exited["exit_code"]) == ("fault_exit", -9)
    assert fleet[0].proc.poll() is None
    r.close()
    log.close()
    assert [e["event"] for e in events(tmp_path)] == ["fault_applied", "fault_exit"]


def test_a_hang_stops_the_oldest_is_watched_in_haproxy_and_continued_at_its_end(tmp_path, fleet):
    status = {"local-1": "UP", "local-2": "UP"}
    r, log = runner(tmp_path, "hang@1s:2s:oldest", fleet, status)
    r.tick(1001.0)
    assert stopped(fleet[0]) and not stopped(fleet[1])
    r.tick(1001.5)  # still UP: not ejected yet
    status["local-1"] = "DOWN"
    r.tick(1002.0)
    r.tick(1002.5)  # logged once
    r.tick(1003.0)
    assert not stopped(fleet[0])
    r.tick(1003.1)  # DOWN until HAProxy's check passes again
    status["local-1"] = "UP"
    r.tick(1003.3)
    r.close()
    log.close()
    got = events(tmp_path)
    assert [e["event"] for e in got] == [
        "fault_applied",
        "fault_ejected",
        "fault_restored",
        "fault_readmitted",
    ]
    assert all(e["instance"] == "local-1" for e in got)
    assert got[0]["signal"] == "SIGSTOP" and got[2]["signal"] == "SIGCONT"
    assert got[1]["status"] == "DOWN" and "at_shutdown" not in got[2]


def test_a_slow_raises_the_setting_then_puts_the_previous_value_back(tmp_path, fleet, control):
    r, log = runner(tmp_path, "slow@1s:2s:cpu=40ms:delay=100ms", fleet, {})
    r.tick(1001.0)
    assert control.defaults == {"delay": "100ms", "cpu": "40ms"}
    r.tick(1003.0)
    r.close()
    log.close()
    # null is delay-echo's "back to the built-in": the previous cpu was unset.
    assert control.puts == [
        {"cpu": "40ms", "delay": "100ms"},
        {"cpu": None, "delay": "80ms"},
    ]
    applied, restored = events(tmp_path)
    assert applied["previous"] == {"cpu": None, "delay": "80ms"}
    assert applied["settings"] == {"cpu": "40ms", "delay": "100ms"}
    assert restored["restored"] == {"cpu": None, "delay": "80ms"}


def test_close_undoes_what_is_applied_and_skips_what_was_not_due(tmp_path, fleet, control):
    r, log = runner(
        tmp_path, "hang@1s:60s:local-2,slow@1s:60s:cpu=40ms:local-1,kill@30s", fleet, {}
    )
    r.tick(1001.0)
    assert stopped(fleet[1])
    r.close()
    r.tick(1100.0)  # after close, nothing more happens
    log.close()
    assert not stopped(fleet[1])
    assert control.defaults["cpu"] is None
    got = events(tmp_path)
    assert [(e["event"], e["fault"]) for e in got] == [
        ("fault_applied", 1),
        ("fault_applied", 2),
        ("fault_skipped", 3),
        ("fault_restored", 1),
        ("fault_restored", 2),
    ]
    assert got[3]["at_shutdown"] and got[4]["at_shutdown"]
    assert all(p.poll() is None for p in (fleet[0].proc, fleet[1].proc))


def test_close_undoes_a_hang_even_while_the_thread_runs(tmp_path, fleet, monkeypatch):
    monkeypatch.setattr(faults_mod, "POLL_INTERVAL", 0.01)
    log = EventLog(tmp_path / "platform.jsonl")
    r = FaultRunner(
        parse_faults("hang@0:60s"), log, lambda: list(fleet), no_status, token=TOKEN, poll=0.01
    )
    r.start(time.monotonic(), time.time())
    deadline = time.monotonic() + 5
    while not stopped(fleet[1]):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r.close()
    log.close()
    assert not stopped(fleet[1])


def test_no_target_is_a_skip_that_names_the_live_ones(tmp_path, fleet):
    fleet[1].times["drain"] = 1.0  # draining: not serving
    r, log = runner(tmp_path, "kill@1s:local-2,hang@2s:1s:local-7", fleet, {})
    r.tick(1002.0)
    r.close()
    log.close()
    a, b = events(tmp_path)
    assert (a["event"], b["event"]) == ("fault_skipped", "fault_skipped")
    assert "no serving instance 'local-2' (live: local-1, local-2)" in a["reason"]
    assert fleet[1].proc.poll() is None


def test_a_refused_put_is_a_failed_fault_with_delay_echos_reason(tmp_path, fleet):
    log = EventLog(tmp_path / "platform.jsonl")
    r = FaultRunner(
        parse_faults("slow@0:1s:cpu=1ms"), log, lambda: list(fleet), no_status, token="wrong"
    )
    r.start(0.0, 0.0, background=False)
    r.tick(0.0)
    r.close()
    log.close()
    (failed,) = events(tmp_path)
    assert failed["event"] == "fault_failed"
    assert failed["reason"].startswith("HTTP 401")


def test_a_hung_instance_is_not_the_target_of_the_next_fault(tmp_path, fleet):
    r, log = runner(tmp_path, "hang@1s:10s,kill@2s", fleet, {})
    r.tick(1001.0)
    r.tick(1002.0)
    r.close()
    log.close()
    hang, kill = [e for e in events(tmp_path) if e["event"] == "fault_applied"]
    assert (hang["instance"], kill["instance"]) == ("local-2", "local-1")


def test_a_slowed_instance_that_is_hung_gets_its_configuration_back_after_its_sigcont(
    tmp_path, fleet, control
):
    r, log = runner(tmp_path, "slow@1s:2s:cpu=40ms:local-1,hang@2s:3s:local-1", fleet, {})
    r.tick(1001.0)
    r.tick(1002.0)
    assert stopped(fleet[0])
    r.tick(1003.0)  # the slow's end: its instance is stopped, so it waits
    assert control.defaults["cpu"] == "40ms"
    r.tick(1005.0)  # SIGCONT, then the PUT in the same look
    r.close()
    log.close()
    assert control.defaults["cpu"] is None
    got = [(e["event"], e["fault"]) for e in events(tmp_path)]
    assert got == [
        ("fault_applied", 1),
        ("fault_applied", 2),
        ("fault_restored", 2),
        ("fault_restored", 1),
    ]


def test_close_continues_a_hang_before_it_restores_a_slow_on_the_same_instance(
    tmp_path, fleet, control
):
    r, log = runner(tmp_path, "slow@1s:60s:cpu=40ms:local-1,hang@2s:60s:local-1", fleet, {})
    r.tick(1001.0)
    r.tick(1002.0)
    r.close()
    log.close()
    restored = [e for e in events(tmp_path) if e["event"] == "fault_restored"]
    assert [e["fault"] for e in restored] == [2, 1]
    assert "error" not in restored[1] and control.defaults["cpu"] is None
