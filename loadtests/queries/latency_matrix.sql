-- The latency matrix from the servers' records: per sending region and peer, the relay legs'
-- network time (each leg's round trip minus the peer's own total, as the sender measured it).
-- Columns: region, peer, n (legs with a network time), errors (legs without one: the peer
-- failed or was silent), p50_ms, p90_ms, p99_ms.
SELECT
    r.region AS region,
    l.peer AS peer,
    count(l.network_ms) AS n,
    count(*) - count(l.network_ms) AS errors,
    approx_percentile(l.network_ms, 0.5) AS p50_ms,
    approx_percentile(l.network_ms, 0.9) AS p90_ms,
    approx_percentile(l.network_ms, 0.99) AS p99_ms
FROM records AS r
CROSS JOIN UNNEST(r.legs) AS l (peer, status, rtt_ms, peer_total_ms, network_ms)
WHERE r.event = 'request'
GROUP BY r.region, l.peer
ORDER BY region, peer
