"""Record lines for the tests without a server, in the shape docs/records.schema.json states (the
tests check them against it, so a fixture cannot drift from the contract)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def _head(event: str, t: float, instance: str, region: str | None) -> dict[str, Any]:
    ts = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"v": 1, "event": event, "ts": ts, "t_unix": t, "instance": instance, "region": region}


def request(
    t: float,
    instance: str,
    region: str | None = None,
    *,
    status: int = 200,
    total_ms: float = 1.0,
    legs: list[dict[str, Any]] | None = None,
    seq: int | None = 1,
    cache: str | None = None,
) -> dict[str, Any]:
    return {
        **_head("request", t, instance, region),
        "method": "GET",
        "path": "/",
        "status": status,
        "seq": seq,
        "queue_ms": 0.0,
        "sleep_ms": total_ms,
        "cpu_ms": 0.0,
        "total_ms": total_ms,
        "cache": cache,
        "legs": legs or [],
    }


def leg(peer: str, network_ms: float | None, peer_total_ms: float = 0.5) -> dict[str, Any]:
    if network_ms is None:
        return {
            "peer": peer,
            "status": None,
            "rtt_ms": None,
            "peer_total_ms": None,
            "network_ms": None,
        }
    return {
        "peer": peer,
        "status": 200,
        "rtt_ms": network_ms + peer_total_ms,
        "peer_total_ms": peer_total_ms,
        "network_ms": network_ms,
    }


def lifecycle(event: str, t: float, instance: str, region: str | None = None) -> dict[str, Any]:
    extras: dict[str, dict[str, Any]] = {
        "start": {"address": "127.0.0.1:1", "version": "0.1.0", "startup_delay_ms": 0.0},
        "ready": {"startup_delay_ms": 0.0},
        "drain": {"drain_delay_ms": 0.0},
    }
    extra = extras[event]
    return {**_head(event, t, instance, region), **extra}


def lines(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)
