-- Per instance: when it started, became ready and began draining (its lifecycle records), its
-- first and last request (arrival times), how many requests it answered and at what rate.
-- Columns: instance, region, start_unix, ready_unix, drain_unix, first_request_unix,
-- last_request_unix, first_request_ts, last_request_ts, requests, requests_per_second (requests
-- over the span from first to last request; null when the span is 0).
SELECT
    instance,
    max(region) AS region,
    min(CASE WHEN event = 'start' THEN t_unix END) AS start_unix,
    min(CASE WHEN event = 'ready' THEN t_unix END) AS ready_unix,
    min(CASE WHEN event = 'drain' THEN t_unix END) AS drain_unix,
    min(CASE WHEN event = 'request' THEN t_unix END) AS first_request_unix,
    max(CASE WHEN event = 'request' THEN t_unix END) AS last_request_unix,
    min(CASE WHEN event = 'request' THEN ts END) AS first_request_ts,
    max(CASE WHEN event = 'request' THEN ts END) AS last_request_ts,
    sum(CASE WHEN event = 'request' THEN 1 ELSE 0 END) AS requests,
    CASE
        WHEN max(CASE WHEN event = 'request' THEN t_unix END)
            > min(CASE WHEN event = 'request' THEN t_unix END)
        THEN sum(CASE WHEN event = 'request' THEN 1 ELSE 0 END)
            / (max(CASE WHEN event = 'request' THEN t_unix END)
                - min(CASE WHEN event = 'request' THEN t_unix END))
    END AS requests_per_second
FROM records
GROUP BY instance
ORDER BY start_unix, first_request_unix, instance
