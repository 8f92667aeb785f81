"""The emulated networks' faults without a lab: the grammar against a topology, and the runner's
timing and undo (what it does to a lab is loadtests/mesh/tests/test_mesh_faults.py's business)."""

from __future__ import annotations

import pytest

from loadtests.core.events import EventLog, read
from loadtests.core.faults import FaultSyntaxError
from loadtests.netlab.faults import Fault, FaultRunner, parse_faults

HOSTS = ["client", "eu", "us", "ap", "eu-west-1", "us-east-1"]
LINKS = {
    frozenset(p) for p in [("eu", "us"), ("eu", "ap"), ("us", "ap"), ("eu-west-1", "us-east-1")]
}


def linked(a: str, b: str) -> bool:
    return frozenset((a, b)) in LINKS


def test_partitions_and_degrades_parse_with_their_pairs():
    faults = parse_faults(
        "partition@20s:10s:eu-us, degrade@40s:5s:eu/ap:+30ms,partition@1m:500ms:eu-west-1-us-east-1",
        HOSTS,
        linked,
    )
    assert faults == (
        Fault(1, "partition", 20, 10, "eu", "us", 0.0, "partition@20s:10s:eu-us"),
        Fault(2, "degrade", 40, 5, "eu", "ap", 30.0, "degrade@40s:5s:eu/ap:+30ms"),
        Fault(3, "partition", 60, 0.5, "eu-west-1", "us-east-1", 0.0,
              "partition@1m:500ms:eu-west-1-us-east-1"),
    )  # fmt: skip
    assert faults[0].end == 30 and faults[0].fields()["pair"] == "eu-us"
    # A partition may cut two hosts no link joins (they reach each other directly).
    assert parse_faults("partition@1s:1s:client-ap", HOSTS, linked)[0].b == "ap"
    assert parse_faults("", HOSTS, linked) == ()


@pytest.mark.parametrize(
    "text, message",
    [
        ("cut@1s:1s:eu-us", "kinds: partition | degrade"),
        ("partition@1s:eu-us", "is not partition@T:DUR:A-B"),
        ("degrade@1s:1s:eu-us", "is not degrade@T:DUR:A-B:+X"),
        ("partition@x:1s:eu-us", "T='x' is not a duration"),
        ("partition@1s:0s:eu-us", "the duration must be above 0"),
        ("partition@1s:1s:eu-mars", "is not two hosts; hosts: client, eu, us"),
        ("partition@1s:1s:eu-eu", "names one host twice"),
        ("degrade@1s:1s:client-eu:+5ms", "no link joins client and eu"),
        ("degrade@1s:1s:eu-us:30ms", "written +X"),
        ("degrade@1s:1s:eu-us:+0ms", "above 0 and at most 60s"),
        ("degrade@1s:1s:eu-us:+2m", "above 0 and at most 60s"),
        ("partition@1s:5s:eu-us,degrade@3s:1s:us/eu:+5ms", "overlap; allowed: one fault on eu–us at a time"),
    ],
)  # fmt: skip
def test_bad_faults_say_what_is_allowed(text, message):
    with pytest.raises(FaultSyntaxError) as e:
        parse_faults(text, HOSTS, linked)
    assert message in str(e.value)


def test_a_pair_that_splits_two_ways_must_be_written_with_a_slash():
    hosts = ["a", "a-b", "b", "b-c", "c"]
    with pytest.raises(FaultSyntaxError, match="more than one way: write A/B"):
        parse_faults("partition@1s:1s:a-b-c", hosts, lambda a, b: True)
    f = parse_faults("partition@1s:1s:a-b/c", hosts, lambda a, b: True)[0]
    assert (f.a, f.b) == ("a-b", "c")


def test_the_runner_applies_each_fault_on_time_undoes_it_and_logs_every_step(tmp_path):
    faults = parse_faults("partition@1s:2s:eu-us,degrade@2s:500ms:eu-ap:+10ms", HOSTS, linked)
    acts: list[tuple[int, bool]] = []
    log = EventLog(tmp_path / "faults.jsonl")
    runner = FaultRunner(faults, log, act=lambda f, on: acts.append((f.number, on)))
    runner.start(100.0, 1000.0, background=False)
    for now in (100.5, 101.0, 102.0, 102.5, 103.0, 104.0):
        runner.tick(now)
        if now == 102.0:
            assert acts == [(1, True), (2, True)]
    runner.close()
    log.close()
    assert acts == [(1, True), (2, True), (2, False), (1, False)]
    events = read(tmp_path / "faults.jsonl")
    assert [(e["event"], e["fault"]) for e in events] == [
        ("fault_applied", 1), ("fault_applied", 2), ("fault_restored", 2), ("fault_restored", 1),
    ]  # fmt: skip
    applied = events[0]
    assert (
        applied["planned"] == 1001.0 and applied["planned_s"] == 1.0 and applied["pair"] == "eu-us"
    )
    assert events[1]["extra_ms"] == 10.0 and events[1]["kind"] == "degrade"


def test_a_failed_step_is_logged_and_the_rest_go_on_and_close_undoes_what_is_left(tmp_path):
    faults = parse_faults(
        "partition@0s:10s:eu-us,degrade@0s:10s:eu-ap:+1ms,partition@30s:1s:us-ap", HOSTS, linked
    )

    def act(f: Fault, on: bool) -> None:
        if f.number == 1 and on:
            raise RuntimeError("iptables said no")

    log = EventLog(tmp_path / "faults.jsonl")
    runner = FaultRunner(faults, log, act=act)
    runner.start(0.0, 0.0, background=False)
    runner.tick(1.0)
    runner.close()  # the run ended at 1 s: fault 2 undone, fault 3 never came
    log.close()
    got = [(e["event"], e["fault"]) for e in read(tmp_path / "faults.jsonl")]
    assert got == [
        ("fault_failed", 1), ("fault_applied", 2), ("fault_skipped", 3), ("fault_restored", 2),
    ]  # fmt: skip
    failed = read(tmp_path / "faults.jsonl")[0]
    assert "iptables said no" in failed["reason"]
    assert read(tmp_path / "faults.jsonl")[3]["at_shutdown"] is True
