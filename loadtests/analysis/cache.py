"""Cache status of each answer, from the headers a CDN or proxy cache adds, and what it did to latency.

loadtests/k6/lib/echo.js tags each answer `cache=<header>:<value>` from the first of `X-Cache`
(CloudFront: "Hit from cloudfront", "Miss …", "RefreshHit …", "Error …"), `X-Cache-Status`
(nginx's $upstream_cache_status: HIT, MISS, EXPIRED, STALE, UPDATING, REVALIDATED, BYPASS) or
`Age` that the answer carries, and leaves the tag out when there is none. This module maps the
tag to hit, miss or error, and reports only when some answer carried one: a run without a cache in
front has no cache section.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .runs import Run

# What each header value means. A RefreshHit (CloudFront) or a REVALIDATED/STALE/UPDATING answer
# (nginx) came from the cache, even if the cache also asked the origin; EXPIRED and BYPASS went to
# the origin. An Age above 0 means the answer sat in a cache.
HIT, MISS, ERROR = "hit", "miss", "error"
X_CACHE = {"hit": HIT, "refreshhit": HIT, "miss": MISS, "error": ERROR}
X_CACHE_STATUS = {
    "hit": HIT,
    "stale": HIT,
    "updating": HIT,
    "revalidated": HIT,
    "miss": MISS,
    "expired": MISS,
    "bypass": MISS,
}


def classify(tag: str | None) -> str | None:
    """hit, miss, error, or None (no cache header, or a value this table does not know)."""
    if not tag or ":" not in tag:
        return None
    header, _, value = tag.partition(":")
    header, value = header.strip().lower(), value.strip().lower()
    if header == "x-cache":
        return X_CACHE.get(value.split(" ", 1)[0]) if value else None
    if header == "x-cache-status":
        return X_CACHE_STATUS.get(value)
    if header == "age":
        try:
            return HIT if float(value) > 0 else MISS
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class LatencySplit:
    cls: str  # hit, miss or error
    answers: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass(frozen=True)
class CacheReport:
    answers_with_status: int
    hits: int
    misses: int
    errors: int
    hit_ratio: float | None  # hits ÷ (hits + misses)
    latency: list[LatencySplit]


def _classes(run: Run) -> pd.DataFrame:
    """The distinct tag values with their class (a handful, so classified in Python)."""
    tags = run.query("SELECT DISTINCT cache FROM requests WHERE cache IS NOT NULL")
    tags["cls"] = tags["cache"].map(classify)
    return tags.dropna(subset=["cls"])


def _register(run: Run) -> bool:
    classes = _classes(run)
    if not len(classes):
        return False
    run.db.register("cache_classes", classes[["cache", "cls"]])
    return True


def cache_report(run: Run) -> CacheReport | None:
    """Hit ratio and latency of hits vs misses, or None when no answer carried a cache header."""
    if not _register(run):
        return None
    t = run.query(
        """SELECT c.cls, count(*) AS n, quantile_cont(r.latency_ms, [0.5, 0.95, 0.99]) AS q,
                  max(r.latency_ms) AS mx
           FROM requests r JOIN cache_classes c USING (cache) GROUP BY c.cls ORDER BY c.cls"""
    ).set_index("cls")
    counts = {cls: int(t["n"].get(cls, 0)) for cls in (HIT, MISS, ERROR)}
    splits = [
        LatencySplit(
            cls=str(cls),
            answers=int(row["n"]),
            p50_ms=float(row["q"][0]),
            p95_ms=float(row["q"][1]),
            p99_ms=float(row["q"][2]),
            max_ms=float(row["mx"]),
        )
        for cls, row in t.iterrows()
    ]
    hm = counts[HIT] + counts[MISS]
    return CacheReport(
        answers_with_status=sum(counts.values()),
        hits=counts[HIT],
        misses=counts[MISS],
        errors=counts[ERROR],
        hit_ratio=counts[HIT] / hm if hm else None,
        latency=splits,
    )


def per_second(run: Run, index: pd.RangeIndex) -> pd.DataFrame:
    """Hits, misses and hit ratio per second of arrival (empty columns without cache headers)."""
    out = pd.DataFrame(index=index)
    if not _register(run):
        return out
    t = run.query(
        """SELECT CAST(greatest(floor(r.t_start), 0) AS BIGINT) AS s,
                  count(*) FILTER (WHERE c.cls = 'hit') AS hits,
                  count(*) FILTER (WHERE c.cls = 'miss') AS misses
           FROM requests r JOIN cache_classes c USING (cache) GROUP BY s"""
    ).set_index("s")
    out["cache_hits"] = t["hits"].reindex(index, fill_value=0).astype("int64")
    out["cache_misses"] = t["misses"].reindex(index, fill_value=0).astype("int64")
    total = out["cache_hits"] + out["cache_misses"]
    out["hit_ratio"] = (out["cache_hits"] / total.replace(0, np.nan)).astype(float)
    return out
