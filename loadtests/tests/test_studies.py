"""Study files: the shipped ones parse into what their README promises, bad ones fail with the field
and what is allowed, and the runner turns a study into the right commands. Pure: no namespaces."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from loadtests.studies import runner
from loadtests.studies.study import HERE, StudyError, available, find, load, parse
from loadtests.tests.nobody import as_nobody

REPO = HERE.parents[1]
CDN = tomllib.loads((HERE / "cdn.toml").read_text())


def bad(**changes: object) -> dict:
    """The cdn study with top-level fields replaced (None removes one)."""
    data = tomllib.loads((HERE / "cdn.toml").read_text())
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    return data


def test_every_shipped_study_parses_and_the_readme_lists_it():
    readme = (HERE / "README.md").read_text()
    assert available() == ["cache-vs-db", "cdn", "path"]
    for name in available():
        s = find(name)
        assert s.name == name
        assert f"make {name}-local" in readme
        assert s.question in readme.replace("\n", " ") or s.title in readme


def test_the_cdn_study_is_the_issue_s_network():
    s = find("cdn")
    assert s.round_trip_ms("user", "edge") == 10
    assert s.round_trip_ms("edge", "origin") == 80
    # The direct path crosses the same distance as the two legs.
    t = s.topology()
    assert t.one_way_ms("user", "origin") == t.one_way_ms("user", "edge") + t.one_way_ms(
        "edge", "origin"
    )
    assert s.services["edge"].kind == "nginx-edge" and s.services["edge"].upstream == "origin"
    assert {"--delay", "20ms", "--cache", "60s"} <= set(s.services["origin"].args)
    assert [v.target for v in s.variants] == ["origin", "edge"]
    assert {h.name: h.ports for h in t.hosts} == {"user": (), "edge": (8081,), "origin": (8080,)}


def test_the_path_study_uses_locust_with_two_workers_and_a_relay_hop():
    s = find("path")
    assert (s.load.tool, s.load.workers) == ("locust", 2)
    t = s.topology()
    direct, to_relay, from_relay = (
        t.link("user", "app"),
        t.link("user", "relay"),
        t.link("relay", "app"),
    )
    assert direct is not None and to_relay is not None and from_relay is not None
    assert direct.jitter_ms > 0
    assert to_relay.jitter_ms == 0 and from_relay.jitter_ms == 0
    assert s.services["relay"].peers == {"app": "app"}
    b = s.variants[1]
    assert b.target == "relay" and "hop=app" in s.knobs(b)["ECHO_PATH"]


def test_the_cache_vs_db_study_relays_to_the_database_or_draws_the_mixture():
    s = find("cache-vs-db")
    a, b = s.variants
    assert "hop=db" in s.knobs(a)["ECHO_PATH"] and "format=json" in s.knobs(a)["ECHO_PATH"]
    assert "hop" not in s.knobs(b)["ECHO_PATH"]
    assert s.knobs(b)["ECHO_DELAY"] == "2ms:90,lognormal(40ms,200ms):10"
    assert "lognormal(40ms,200ms)" in s.services["db"].args


def test_the_short_plan_overrides_the_study_s_knobs_and_the_variant_s_win():
    s = find("cdn")
    a = s.variants[0]
    assert s.knobs(a)["DURATION"] == "30s"
    assert s.knobs(a, short=True)["DURATION"] == "8s"
    assert s.knobs(a, short=True)["RATE"] == "20"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bad(name="CDN!"), "name: 'CDN!'; allowed: lower case"),
        (bad(limit_seconds=5), "limit_seconds: 5; allowed: a whole number from 10 to 1800"),
        (bad(colour="blue"), "unknown field(s) colour; allowed:"),
        (bad(hosts=[]), "hosts: give at least one"),
        (bad(hosts=[{"name": "user"}, {"name": "user"}]), "'user' is declared twice"),
        (
            bad(links=[{"a": "user", "b": "mars", "delay_ms": 5}]),
            "unknown host 'mars'; hosts: user, edge, origin",
        ),
        (
            bad(links=[{"a": "user", "b": "edge", "delay_ms": -1}]),
            "delay_ms: -1; allowed: a number from 0 to 60000",
        ),
        (
            bad(links=[{"a": "user", "b": "edge", "delay_ms": "5ms"}]),
            "delay_ms: '5ms'; allowed: a number",
        ),
        (
            bad(
                links=[
                    {"a": "user", "b": "edge", "delay_ms": 5},
                    {"a": "edge", "b": "user", "delay_ms": 5},
                ]
            ),
            "edge-user is linked twice",
        ),
        (
            bad(links=[{"a": "edge", "b": "edge", "delay_ms": 5}]),
            "a link joins two different hosts",
        ),
        (bad(services={}), "services: give at least one"),
        (
            bad(services={"origin": {"kind": "haproxy", "host": "origin", "port": 1}}),
            "kind: 'haproxy'; allowed: delay-echo, nginx-edge",
        ),
        (
            bad(services={"edge": {"kind": "nginx-edge", "host": "edge", "port": 80}}),
            "services.edge: upstream is required",
        ),
        (
            bad(
                services={
                    "edge": {
                        "kind": "nginx-edge",
                        "host": "edge",
                        "port": 80,
                        "upstream": "nowhere",
                    }
                }
            ),
            "refers to 'nowhere'; allowed: another service",
        ),
        (
            bad(
                services={
                    "a": {"kind": "delay-echo", "host": "origin", "port": 80},
                    "b": {"kind": "delay-echo", "host": "origin", "port": 80},
                }
            ),
            "port: 80 is already taken on host origin",
        ),
        (
            bad(
                services={
                    "o": {
                        "kind": "delay-echo",
                        "host": "origin",
                        "port": 8080,
                        "args": ["--listen", "x"],
                    }
                }
            ),
            "--listen and --peer are set by the runner",
        ),
        (
            bad(services={"o": {"kind": "delay-echo", "host": "origin", "port": 70000}}),
            "port: 70000; allowed: a whole number from 1 to 65535",
        ),
        (bad(load={**CDN["load"], "tool": "jmeter"}), "tool: 'jmeter'; allowed: k6, locust"),
        (bad(load={**CDN["load"], "workers": 2}), "only locust has workers"),
        (bad(load={**CDN["load"], "profile": "burst"}), "profile: 'burst'; allowed: smoke, steady"),
        (bad(load={**CDN["load"], "from": "moon"}), "from: unknown host 'moon'"),
        (
            bad(load={**CDN["load"], "knobs": {"TARGET": "http://x"}}),
            "TARGET: set by the study runner",
        ),
        (bad(load={**CDN["load"], "knobs": {"rate": "5"}}), "rate: not a load-test knob name"),
        (
            bad(load={**CDN["load"], "short": {"DURATION": "5 seconds"}}),
            "load.short.DURATION: '5 seconds'; allowed: a duration with a unit",
        ),
        (
            bad(variants={"A": CDN["variants"]["A"]}),
            "exactly [variants.A] and [variants.B] are allowed",
        ),
        (
            bad(variants={"A": CDN["variants"]["A"], "B": {"label": "x", "target": "cdn"}}),
            "variants.B.target: unknown service 'cdn'; services: origin, edge",
        ),
        (bad(load=None), "load: expected a table"),
    ],
)
def test_a_bad_study_says_which_field_and_what_is_allowed(data, message):
    with pytest.raises(StudyError) as e:
        parse(data, "bad.toml")
    assert message in str(e.value)
    assert str(e.value).startswith("bad.toml")


def test_a_file_that_is_not_toml_or_misnamed_is_refused(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("name = 'broken'\n[[hosts]\n")
    with pytest.raises(StudyError, match=r"broken.toml: not TOML"):
        load(broken)
    other = tmp_path / "other.toml"
    other.write_text((HERE / "cdn.toml").read_text())
    with pytest.raises(StudyError, match=r"name = 'cdn' must be the file's name, 'other'"):
        load(other)
    with pytest.raises(StudyError, match=r"no study 'cdm'; allowed: cache-vs-db, cdn, path"):
        find("cdm")


def test_the_cli_refuses_a_bad_study_before_building_anything(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(
        (HERE / "cdn.toml")
        .read_text()
        .replace('name = "cdn"', 'name = "bad"')
        .replace("delay_ms = 40", "delay_ms = -40")
    )
    for cmd in (["check", str(f)], ["run", str(f)]):
        p = subprocess.run(
            [sys.executable, "-m", "loadtests.studies", *cmd],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 2, p.stderr
        assert "delay_ms: -40.0" in p.stderr or "delay_ms: -40" in p.stderr
        assert "allowed: a number from 0 to 60000" in p.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "loadtests.studies", "check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and ok.stdout.split() == [
        "cache-vs-db:",
        "ok",
        "cdn:",
        "ok",
        "path:",
        "ok",
    ]


def test_services_start_after_those_they_talk_to():
    order = [s.name for s in runner.start_order(find("path"))]
    assert order.index("app") < order.index("relay")
    order = [s.name for s in runner.start_order(find("cdn"))]
    assert order.index("origin") < order.index("edge")


def test_service_commands_carry_listen_address_peers_and_the_edge_config(tmp_path):
    tools = runner.Tools(Path("/bin/delay-echo"), Path("/bin/k6"), Path("/bin/python"), "nginx")
    urls = {"app": "http://10.214.0.4:8080", "origin": "http://10.214.0.4:8080"}
    relay = find("path").services["relay"]
    argv = runner.service_argv(relay, urls.__getitem__, tools, tmp_path)
    assert argv[:3] == ["/bin/delay-echo", "--listen", "0.0.0.0:8080"]
    assert argv[-2:] == ["--peer", "app=http://10.214.0.4:8080"]
    edge = find("cdn").services["edge"]
    argv = runner.service_argv(edge, urls.__getitem__, tools, tmp_path)
    assert argv[:2] == ["nginx", "-c"]
    conf = Path(argv[2]).read_text()
    assert "listen 0.0.0.0:8081;" in conf and "server 10.214.0.4:8080;" in conf


def test_the_generator_gets_the_study_s_knobs_target_and_workers(tmp_path):
    tools = runner.Tools(Path("/bin/delay-echo"), Path("/bin/k6"), Path("/bin/python"))
    s = find("path")
    env = runner.generator_env(
        s, s.variants[1], "http://10.214.0.3:8080", tmp_path, tools, short=True
    )
    assert env["TOOL"] == "locust" and env["LOCUST_WORKERS"] == "2"
    assert env["TARGET"] == "http://10.214.0.3:8080" and env["RESULTS"] == str(tmp_path)
    assert env["ECHO_PATH"] == "/page?hop=app" and env["DURATION"] == "8s"
    assert env["STUDY"] == "path B: via relay"
    c = find("cache-vs-db")
    assert (
        runner.request_path(c.knobs(c.variants[1]))
        == "/page?format=json&delay=2ms%3A90%2Clognormal%2840ms%2C200ms%29%3A10"
    )


def _run_cdn(tmp_path: Path, prefix: list[str], env: dict[str, str] | None = None):
    return subprocess.run(
        [
            *prefix,
            sys.executable,
            "-m",
            "loadtests.studies",
            "run",
            "cdn",
            "--results",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_study_stops_at_once_without_iproute2(tmp_path):
    p = _run_cdn(tmp_path, [], env={"PATH": str(tmp_path)})
    assert p.returncode == 2
    assert "needs iproute2" in p.stderr and "apt-get install iproute2" in p.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_study_stops_at_once_without_root():
    with as_nobody() as nobody:
        results = nobody.folder / "results"
        p = nobody.run("loadtests.studies", "run", "cdn", "--results", str(results))
        assert p.returncode == 2, p.stderr
        assert "needs root" in p.stderr
        assert list(results.iterdir()) == []


def test_a_setting_from_its_env_twin_is_judged_as_the_flag_is(tmp_path):
    """STUDY_SHORT is --short's twin: a bad value stops the run at once, saying what is allowed."""
    for how in ({"STUDY_SHORT": "maybe"}, {}):
        cmd = ["run", "cdn", "--results", str(tmp_path)] + ([] if how else ["--short=maybe"])
        p = subprocess.run(
            [sys.executable, "-m", "loadtests.studies", *cmd],
            cwd=REPO,
            env={**os.environ, **how},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 2, p.stderr
        assert "'maybe'; allowed: 1, true, yes, on or 0, false, no, off" in p.stderr
    assert list(tmp_path.iterdir()) == []
