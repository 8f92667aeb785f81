"""What the clients felt during faults, from synthetic requests with known failures and delays."""

from __future__ import annotations

from loadtests.mesh.timeline import Request, Span, accounting, markdown, rows


def _run() -> list[Request]:
    """eu>us and us>ap, 10 requests a second for 20 s. eu–us is cut from 5 to 8 s: eu>us fails
    from 4.9 s (a request in flight) to 8.2 s (the first after the heal still waits); us–ap is
    degraded by 20 ms each way from 12 to 14 s, and its first request after is still slow."""
    out = []
    for k in range(200):
        t = 1000 + k / 10
        rel = t - 1000
        cut = 4.9 <= rel < 8.25
        out.append(Request(t, "eu>us", 504 if cut else 200, 5.0, None if cut else 10.0))
        slow = 12 <= rel < 14.15
        out.append(Request(t + 0.05, "us>ap", 200, 5.0, 80.0 if slow else 40.0))
    return out


SPANS = [
    Span(1, "partition", "partition@5s:3s:eu-us", ("eu", "us"), 1005.0, 1008.0),
    Span(2, "degrade", "degrade@12s:2s:us-ap:+20ms", ("us", "ap"), 1012.0, 1014.0),
]


def test_each_fault_counts_what_its_pair_felt_and_spares_the_others():
    got = {(r.fault, r.pair): r for r in rows(_run(), SPANS, "client", 1019.95)}
    cut = got[(1, "eu>us")]
    assert cut.crosses and cut.in_span == 30 and cut.failed_in_span == 30
    assert cut.statuses_in_span == {"504": 30}
    assert cut.failed_after == 3  # 8.0, 8.1, 8.2 s
    assert cut.recovered_s == 0.3 and cut.p50_outside_ms == 10.0
    other = got[(1, "us>ap")]
    assert not other.crosses and other.failed_in_span == 0 and other.recovered_s is None
    slow = got[(2, "us>ap")]
    assert slow.crosses and slow.failed_in_span == 0
    assert slow.p50_in_span_ms == 80.0 and slow.p50_outside_ms == 40.0
    # 14.0 and 14.1 s were still slow: back at 14.2 s.
    assert slow.recovered_s is not None and abs(slow.recovered_s - 0.25) < 1e-9
    assert not got[(2, "eu>us")].crosses


def test_a_fault_on_the_clients_link_crosses_every_pair_leaving_from_there():
    span = [Span(1, "partition", "partition@5s:1s:client-eu", ("client", "eu"), 1005.0, 1006.0)]
    got = {r.pair: r.crosses for r in rows(_run(), span, "client", 1019.95)}
    assert got == {"eu>us": True, "us>ap": False}


def test_accounting_adds_up_from_k6s_counts_and_says_so():
    reqs = _run()
    summary = {"metrics": {"iterations": {"values": {"count": 400}},
                           "dropped_iterations": {"values": {"count": 2}}}}  # fmt: skip
    acc = accounting(reqs, summary, rate=10, duration="20s", pairs=2)
    assert acc == {"planned": 402, "nominal": 400, "k6_iterations": 400, "answered": 367,
                   "failed": 33, "dropped": 2}  # fmt: skip
    analysis = {"rows": [], "accounting": acc, "events": [], "load_start": 1000.0}
    assert any(
        line.startswith("Every request accounted for: k6 scheduled 402")
        for line in markdown(analysis)
    )
    short = {**analysis, "accounting": {**acc, "k6_iterations": 401}}
    assert any(line.startswith("**Requests unaccounted for**") for line in markdown(short))
