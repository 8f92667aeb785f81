"""The scaling policies on synthetic metric series whose decisions are worked out by hand, the
cold starts' seeds, and the knobs' validation. Pure (no processes, no clock) but for the tests
marked live, which ask the delay-echo binary to judge COLD_START."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.core import tools
from loadtests.localplatform.__main__ import main
from loadtests.localplatform.config import (
    WARM,
    ColdStart,
    Config,
    KnobError,
    check_cold_start,
    parse_duration,
    render,
)
from loadtests.localplatform.platform import drawn_cold_start
from loadtests.localplatform.policies import AppRunner, Bounds, Hpa, Knative, Sample, Schedule, View

pytestmark = pytest.mark.platform

WIDE = Bounds(1, 20)


def series(*spans: tuple[int, float], start: int = 1) -> list[Sample]:
    """One sample per second: (seconds, concurrency) spans one after another, from t = start."""
    out, t = [], start
    for seconds, c in spans:
        for _ in range(seconds):
            out.append(Sample(float(t), c, 1))
            t += 1
    return out


def view(samples: list[Sample], now: float, scale: int, ready: int | None = None) -> View:
    return View(
        now, [s for s in samples if s.time <= now], scale, scale if ready is None else ready
    )


# -- HPA -----------------------------------------------------------------------------------------


def hpa(**kw) -> Hpa:
    return Hpa(WIDE, target=7.0, **kw)


def test_hpa_desired_is_ceil_of_current_times_metric_over_target():
    # 2 ready instances, 28 in flight: 14 per instance against 7 -> ratio 2 -> ceil(2 * 2) = 4.
    s = series((15, 28.0))
    d = hpa().decide(view(s, 15, scale=2))
    assert d.desired == 4
    assert d.inputs["ratio"] == pytest.approx(2.0)
    # 3 ready, 22 in flight: ratio 22/3/7 = 1.0476 is within 10 % -> no change, although ceil would say 4.
    assert hpa().decide(view(series((15, 22.0)), 15, scale=3)).desired == 3


def test_hpa_tolerance_is_ten_percent_either_way():
    two = 2 * 7.0
    assert hpa().decide(view(series((15, two * 1.09)), 15, scale=2)).desired == 2
    assert hpa().decide(view(series((15, two * 1.11)), 15, scale=2)).desired == 3  # ceil(1.11 * 2)
    assert hpa().decide(view(series((15, two * 0.91)), 15, scale=2)).desired == 2
    # Below tolerance: ceil(0.85 * 2) = 2 as well, so the count holds; at 0.45 it goes to 1.
    assert hpa().decide(view(series((15, two * 0.45)), 15, scale=2)).desired == 1
    assert hpa(tolerance=0.0).decide(view(series((15, two * 1.01)), 15, scale=2)).desired == 3


def test_hpa_scale_up_is_limited_to_max_of_4_instances_and_100_percent_per_period():
    # One instance at ten times its target wants 10; the period allows max(1 + 4, 1 * 2) = 5.
    d = hpa().decide(view(series((15, 70.0)), 15, scale=1))
    assert d.desired == 5 and d.inputs["scale_up_limit"] == 5
    # From 6 the percent policy is the larger: at most 12.
    assert hpa().decide(view(series((15, 6 * 70.0)), 15, scale=6)).desired == 12


def test_hpa_counts_booting_instances_as_idle_on_a_scale_up():
    # 3 asked for, 2 ready, 18.2 in flight: the ready ones are at 1.3 x target, but spread over all 3
    # it is 0.87 x: the boot in progress already covers it, so nothing is added.
    assert hpa().decide(view(series((15, 18.2)), 15, scale=3, ready=2)).desired == 3
    # Well over even with the booting one counted: ceil(35 / 21 * 3) = 5.
    assert hpa().decide(view(series((15, 35.0)), 15, scale=3, ready=2)).desired == 5


def test_hpa_stabilisation_window_holds_a_scale_down_for_300_s():
    # 4 instances exactly at target, then the load falls to a quarter: every later recommendation is 1,
    # but the window's highest (4, at t = 15) holds the count until that one is 300 s old.
    s = series((15, 28.0), (400, 7.0))
    policy = hpa()
    scale, first_down = 4, None
    for now in range(15, 400, 15):
        d = policy.decide(view(s, now, scale=scale))
        if d.desired < scale and first_down is None:
            first_down = now
        scale = d.desired
    assert first_down == 15 + 300
    assert scale == 1


def test_hpa_with_no_stabilisation_scales_down_at_the_next_sync():
    s = series((15, 28.0), (30, 7.0))
    policy = hpa(scale_down_stabilization=0.0)
    assert policy.decide(view(s, 15, scale=4)).desired == 4
    assert policy.decide(view(s, 30, scale=4)).desired == 1


# -- Knative KPA ---------------------------------------------------------------------------------


def kpa(**kw) -> Knative:
    # containerConcurrency 10 at 70 %: 7 per instance.
    return Knative(WIDE, target=10.0, **kw)


def test_kpa_stable_mode_sizes_for_the_stable_window_average():
    s = series((60, 20.0))
    d = kpa().decide(view(s, 60, scale=3))
    assert d.desired == 3 and not d.inputs["panic"]  # ceil(20 / 7)


def test_kpa_enters_panic_at_200_percent_over_the_panic_window_and_sizes_for_it():
    # A minute at 5 (one instance is plenty), then 6 s at 20: the 60 s average is 6.5 (1 instance) but
    # the 6 s panic window sees 20 -> ceil(20 / 7) = 3 instances = 300 % of the 1 ready: panic, 3.
    s = series((60, 5.0), (6, 20.0))
    p = kpa()
    assert p.decide(view(s, 60, scale=1)).desired == 1
    d = p.decide(view(s, 66, scale=1))
    assert d.inputs["panic"] and d.inputs["desired_stable"] == 1 and d.desired == 3


def test_kpa_panic_threshold_is_inclusive_and_just_below_is_stable():
    # Panic-window demand of exactly 2 instances on 1 ready = 200 %: panic. 1 instance = 100 %: not.
    assert kpa().decide(view(series((60, 0.0), (6, 14.0)), 66, scale=1)).inputs["panic"]
    assert not kpa().decide(view(series((60, 0.0), (6, 7.0)), 66, scale=1)).inputs["panic"]
    # At 150 % (a 300 % threshold) no panic: the knob is honoured.
    assert (
        not kpa(panic_threshold_pct=300)
        .decide(view(series((60, 0.0), (6, 14.0)), 66, scale=1))
        .inputs["panic"]
    )


def test_kpa_never_scales_down_in_panic_and_leaves_panic_a_stable_window_after_the_last_surge():
    # Surge at 60..65 (panic, 3 instances), then the load falls back to 5 from t = 67.
    s = series((60, 5.0), (6, 20.0), (200, 5.0))
    p = kpa()
    decisions = {}
    for now in range(2, 200, 2):
        decisions[now] = p.decide(
            view(s, now, scale=3 if now > 66 else 1, ready=3 if now > 66 else 1)
        )
    last_over = max(t for t, d in decisions.items() if d.inputs["over_panic_threshold"])
    assert last_over == 66
    # Within a stable window of the last tick over the threshold: still panicking, still 3 although
    # the stable window alone would give fewer once the surge has left the panic window.
    held = [d for t, d in decisions.items() if last_over < t <= last_over + 60]
    assert all(d.inputs["panic"] and d.desired == 3 for d in held)
    stable = [d.inputs["desired_stable"] for d in held]
    assert all(isinstance(n, int | float) for n in stable), stable
    assert any(n < 3 for n in stable if isinstance(n, int | float))
    after = [d for t, d in decisions.items() if t > last_over + 60]
    assert not after[0].inputs["panic"] and after[0].desired < 3


def test_kpa_scale_down_is_at_most_halving_per_decision():
    # 8 ready, demand for 1: max scale-down rate 2 keeps floor(8 / 2) = 4.
    assert kpa().decide(view(series((60, 1.0)), 60, scale=8)).desired == 4


# -- App Runner and the schedule ------------------------------------------------------------------


def test_apprunner_adds_instances_only_when_concurrency_per_instance_exceeds_max_concurrency():
    p = AppRunner(WIDE, max_concurrency=10.0, window=10.0)
    assert p.decide(view(series((10, 10.0)), 10, scale=1)).desired == 1  # at, not over: no change
    assert p.decide(view(series((10, 10.5)), 10, scale=1)).desired == 2
    assert p.decide(view(series((10, 45.0)), 10, scale=1)).desired == 5


def test_apprunner_scales_in_only_after_the_scale_in_delay():
    s = series((10, 45.0), (200, 5.0))
    p = AppRunner(WIDE, max_concurrency=10.0, tick=5.0, window=10.0, scale_in_delay=60.0)
    scale, counts = 1, {}
    for now in range(10, 200, 5):
        scale = counts[now] = p.decide(view(s, now, scale=scale)).desired
    # The decision at t = 10 needed 5 (mean 45); from t = 20 the window sees only 5 (1 needed). The 5
    # holds until that decision is 60 s old; then t = 15's (mean 25: 3) holds for one more tick.
    assert counts[10] == 5 and all(counts[t] == 5 for t in range(15, 70, 5))
    assert counts[70] == 3 and counts[75] == 1


def test_schedule_keeps_the_minimum_until_its_step():
    p = Schedule(Bounds(1, 3), [(8.0, 2)])
    assert p.decide(View(1, [], 1, 1, load_elapsed=None)).desired == 1
    assert p.decide(View(1, [], 1, 1, load_elapsed=7.9)).desired == 1
    assert p.decide(View(1, [], 1, 1, load_elapsed=8.0)).desired == 2


def test_every_decision_stays_within_min_and_max_instances():
    assert (
        Knative(Bounds(2, 3), target=10.0).decide(view(series((60, 500.0)), 60, scale=2)).desired
        == 3
    )
    assert (
        Knative(Bounds(2, 3), target=10.0).decide(view(series((60, 0.0)), 60, scale=3)).desired == 2
    )


# -- cold starts and knobs -----------------------------------------------------------------------


def test_plain_durations_parse_once_and_render_for_delay_echo():
    assert parse_duration("1m30s") == 90 and parse_duration("250us") == pytest.approx(0.00025)
    assert parse_duration("0") == 0 and render(2.5) == "2500ms" and render(0) == "0"


def test_each_instance_gets_its_own_seed_and_the_same_seed_the_same_ones():
    a, b = ColdStart("lognormal(2s,15s)", 7), ColdStart("lognormal(2s,15s)", 8)
    seeds = [a.for_instance(n).seed for n in range(1, 6)]
    assert seeds == [ColdStart("lognormal(2s,15s)", 7).for_instance(n).seed for n in range(1, 6)]
    assert len(set(seeds)) == 5, "each instance draws from a seed of its own"
    assert not set(seeds) & {b.for_instance(n).seed for n in range(1, 6)}
    assert all(s is not None and 0 <= s < 2**64 for s in seeds)  # what --startup-seed takes
    assert a.for_instance(3).argv() == [
        "--startup-delay",
        "lognormal(2s,15s)",
        "--startup-seed",
        str(seeds[2]),
    ]
    assert WARM.argv() == ["--startup-delay", "0"]


def test_the_drawn_cold_start_is_read_from_the_instances_listening_line():
    text = (
        "2026-12-03T08:00:00Z  INFO delay_echo::server: listening address=127.0.0.1:4100 "
        "instance=local-1 startup_delay=0 startup_delay_spec=0 startup_seed=5\n"
        "2026-12-03T08:00:01Z  INFO delay_echo::server: listening address=127.0.0.1:4101 "
        "instance=local-12 startup_delay=9s startup_delay_spec=2s..9s startup_seed=6\n"
        "2026-12-03T08:00:02Z  INFO delay_echo::server: listening address=127.0.0.1:4102 "
        "instance=local-2 startup_delay=3752137us startup_delay_spec=2s..8s startup_seed=7\n"
    )
    assert drawn_cold_start(text, "local-2") == pytest.approx(3.752137)
    assert drawn_cold_start(text, "local-1") == 0.0
    assert drawn_cold_start(text, "local-3") is None
    json_line = (
        '{"timestamp":"2026-12-03T08:00:00Z","level":"INFO","message":"listening",'
        '"address":"127.0.0.1:4100","instance":"local-4","startup_delay":"1500ms",'
        '"startup_delay_spec":"1s..2s","startup_seed":9,"target":"delay_echo::server"}\n'
    )
    assert drawn_cold_start(json_line, "local-4") == 1.5


def test_cold_start_is_checked_for_the_grammars_characters_without_a_binary():
    with pytest.raises(KnobError) as e:
        Config.from_env({"POLICY": "hpa", "COLD_START": "3s; rm"}, Path("."))
    assert "COLD_START='3s; rm'" in str(e.value) and "allowed" in str(e.value)
    with pytest.raises(KnobError) as e:
        check_cold_start(Path("/nonexistent/delay-echo"), ColdStart("3s", 1))
    assert "cannot be checked" in str(e.value) and "DELAY_ECHO_BIN" in str(e.value)


@pytest.mark.live
@pytest.mark.parametrize(
    "text, says",
    [
        ("3", "has no unit"),
        ("8s..2s", "empty range"),
        ("1s:50,2s:30", "not 100"),
        ("lognormal(5s,2s)", "median <= p99"),
        ("1s:x", "not a percentage"),
        ("2h", "exceeds the maximum"),
    ],
)
def test_delay_echo_refuses_a_bad_cold_start_with_what_is_allowed(text, says):
    with pytest.raises(KnobError) as e:
        check_cold_start(tools.delay_echo().require(), ColdStart(text, 1))
    assert str(e.value).startswith(f"COLD_START={text!r}: ")
    assert says in str(e.value) and "allowed:" in str(e.value), e.value
    for good in ("3s", "2s..8s", "1s:90,20s:10", "lognormal(2s,15s)", "0"):
        check_cold_start(tools.delay_echo().require(), ColdStart(good, 1))


@pytest.mark.live
def test_a_bad_cold_start_exits_2_before_anything_starts(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("POLICY", "knative")
    monkeypatch.setenv("COLD_START", "1s:90,20s:5")
    monkeypatch.setenv("DELAY_ECHO_BIN", str(tools.delay_echo().require()))
    monkeypatch.setenv("RESULTS", str(tmp_path))
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "COLD_START='1s:90,20s:5': " in err and "not 100" in err and "allowed:" in err, err
    assert not list(tmp_path.iterdir())  # no run folder, nothing started


@pytest.mark.parametrize(
    "env, says",
    [
        ({"POLICY": "fastest"}, "apprunner | knative | hpa | schedule"),
        ({"POLICY": "hpa", "MIN_INSTANCES": "3", "MAX_INSTANCES": "2"}, "below MIN_INSTANCES"),
        ({"POLICY": "knative", "KPA_STABLE_WINDOW": "soon"}, "KPA_STABLE_WINDOW"),
        ({"POLICY": "hpa", "HPA_TOLERANCE": "-1"}, "HPA_TOLERANCE"),
        ({"POLICY": "schedule", "SCHEDULE": "8:9"}, "above MAX_INSTANCES"),
        ({"POLICY": "schedule", "LOCAL_SCALE_OUT": "8s"}, "whole seconds"),
        ({"POLICY": "hpa", "RUNTIME": "docker"}, "RUNTIME='docker': allowed: process | container"),
    ],
)
def test_bad_knobs_are_refused_before_anything_starts(env, says):
    with pytest.raises(KnobError) as e:
        Config.from_env(env, Path("."))
    assert says in str(e.value)


def test_the_command_line_exits_2_with_the_reason(monkeypatch, capsys):
    monkeypatch.setenv("POLICY", "fastest")
    assert main(["run"]) == 2
    assert (
        "POLICY='fastest': allowed: apprunner | knative | hpa | schedule" in capsys.readouterr().err
    )


def test_a_bad_runtime_exits_2_before_anything_starts(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("POLICY", "knative")
    monkeypatch.setenv("RUNTIME", "vm")
    monkeypatch.setenv("RESULTS", str(tmp_path))
    assert main(["run"]) == 2
    assert "RUNTIME='vm': allowed: process | container" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # no run folder, nothing started


def test_knob_defaults_are_the_published_ones():
    cfg = Config.from_env({"POLICY": "knative"}, Path("."))
    k = cfg.build_policy()
    assert isinstance(k, Knative)
    assert (k.stable_window, k.panic_window, k.panic_threshold, k.period) == (60.0, 6.0, 2.0, 2.0)
    assert k.target_value == pytest.approx(7.0)  # containerConcurrency 10 at 70 %
    h = Config.from_env({"POLICY": "hpa"}, Path(".")).build_policy()
    assert isinstance(h, Hpa)
    assert (h.tolerance, h.period, h.up_pods, h.up_percent, h.down_window) == (
        0.1,
        15.0,
        4,
        100.0,
        300.0,
    )
    a = Config.from_env({"POLICY": "apprunner"}, Path(".")).build_policy()
    assert isinstance(a, AppRunner) and a.max_concurrency == 10.0
    s = Config.from_env({"POLICY": "schedule", "LOCAL_SCALE_OUT": "8"}, Path("."))
    assert s.schedule == ((8.0, 2),)
    assert (s.runtime, s.image) == ("process", "delay-echo:local")
