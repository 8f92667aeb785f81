-- The servers' view per second (of arrival, whole seconds since the epoch) and instance: how
-- many requests arrived, their statuses by class, and the median and p99 of the time each took
-- inside the instance (total_ms: arrival to answer, relay legs included).
-- Columns: second, instance, requests, s2xx, s3xx, s4xx, s5xx, p50_total_ms, p99_total_ms.
SELECT
    CAST(floor(t_unix) AS BIGINT) AS second,
    instance,
    count(*) AS requests,
    sum(CASE WHEN status BETWEEN 200 AND 299 THEN 1 ELSE 0 END) AS s2xx,
    sum(CASE WHEN status BETWEEN 300 AND 399 THEN 1 ELSE 0 END) AS s3xx,
    sum(CASE WHEN status BETWEEN 400 AND 499 THEN 1 ELSE 0 END) AS s4xx,
    sum(CASE WHEN status BETWEEN 500 AND 599 THEN 1 ELSE 0 END) AS s5xx,
    approx_percentile(total_ms, 0.5) AS p50_total_ms,
    approx_percentile(total_ms, 0.99) AS p99_total_ms
FROM records
WHERE event = 'request'
GROUP BY CAST(floor(t_unix) AS BIGINT), instance
ORDER BY second, instance
