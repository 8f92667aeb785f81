"""The real delay-echo's records: every line it writes with --access-log validates against
docs/records.schema.json, and the table and the questions give back what the client saw."""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from loadtests.core import tools
from loadtests.core.service import LISTENING, Http, LogLine, Service
from loadtests.records import queries, store

pytestmark = pytest.mark.live

SCHEMA = json.loads(store.SCHEMA.read_text())
HOP = re.compile(r'hop;desc="eu>us";dur=([0-9.]+), peer-total;desc="us";dur=([0-9.]+)')


def instance(log: Path, *flags: str) -> Service:
    return Service(
        [str(tools.delay_echo().require()), "--listen", "127.0.0.1:0", "--access-log", *flags],
        name=log.stem,
        log=log,
        ready=[LogLine(LISTENING), Http("/readyz")],
        timeout=20,
    )


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            return r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}


def test_every_record_validates_and_the_table_answers_what_the_client_saw(tmp_path):
    us_log, eu_log = tmp_path / "us.log", tmp_path / "eu.log"
    seen: list[tuple[int, dict[str, str]]] = []
    network: list[float] = []
    # The text log format on one, JSON on the other: records read the same beside either.
    with instance(us_log, "--instance-id", "us-1", "--region", "us", "--delay", "2ms",
                  "--max-concurrency", "1", "--max-queue", "0") as us:  # fmt: skip
        us_url = f"http://127.0.0.1:{us.port}"
        with instance(eu_log, "--instance-id", "eu-1", "--region", "eu", "--delay", "1ms",
                      "--log-format", "json", "--peer", f"us={us_url}") as eu:  # fmt: skip
            eu_url = f"http://127.0.0.1:{eu.port}"
            for _ in range(7):
                status, h = fetch(f"{eu_url}/relayed?hop=us")
                seen.append((status, h))
                m = HOP.search(h["server-timing"])
                assert m, h["server-timing"]
                network.append(round(float(m.group(1)) - float(m.group(2)), 3))
            status, miss = fetch(f"{us_url}/c?cache=60s")
            seen.append((status, miss))
            seen.append(fetch(f"{us_url}/c?cache=60s", {"If-None-Match": miss["etag"]}))
            seen.append(fetch(f"{us_url}/n?cache=no-store"))
            seen.append(fetch(f"{eu_url}/bad?delay=soon"))
            # us has one slot and no queue: a request while a slow one holds it is rejected. The
            # slow one may itself meet the slot taken (by a quick one) and be the rejected one, or
            # end before a quick one came: then another is sent. Bounded: 20 s.
            deadline = time.monotonic() + 20
            slow: threading.Thread | None = None
            while True:
                if slow is None or not slow.is_alive():
                    slow = threading.Thread(
                        target=lambda: seen.append(fetch(f"{us_url}/s?delay=1500ms"))
                    )
                    slow.start()
                rejected = fetch(f"{us_url}/r?delay=0")
                seen.append(rejected)
                if rejected[0] == 503:
                    break
                assert time.monotonic() < deadline, "no request was rejected while a slow one ran"
            slow.join()

    lines = us_log.read_text().splitlines() + eu_log.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith('{"v":')]
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for r in records:
        errors = [e.message for e in validator.iter_errors(r)]
        assert not errors, (r, errors)
    assert sorted(r["event"] for r in records if r["event"] != "request") == sorted(
        ["start", "ready", "drain"] * 2
    )
    statuses = sorted(s for s, _ in seen)
    assert 304 in statuses and 400 in statuses and 503 in statuses

    store.collect([us_log, eu_log], tmp_path)
    # One record per answer, on the instance that answered it.
    timeline = {r["instance"]: r for r in queries.run(tmp_path, "instance_timeline").records()}
    answered: dict[str, int] = {}
    for _, h in seen:
        answered[h["x-instance-id"]] = answered.get(h["x-instance-id"], 0) + 1
    # Each relayed request is also one answered by us (to eu, not to the client).
    answered["us-1"] += 7
    assert {i: t["requests"] for i, t in timeline.items()} == answered
    per_second = queries.run(tmp_path, "per_second").records()
    assert sum(r["requests"] for r in per_second) == sum(answered.values())
    assert sum(r["s5xx"] for r in per_second) == statuses.count(503)
    # The servers' matrix is the client's Server-Timing figures, leg for leg.
    (row,) = queries.run(tmp_path, "latency_matrix").records()
    assert (row["region"], row["peer"], row["n"], row["errors"]) == ("eu", "us", 7, 0)
    assert row["p50_ms"] == pytest.approx(statistics.median(network), abs=1e-9)
