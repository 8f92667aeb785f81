// One request to delay-echo and what we learn from its answer. The service reports which instance
// answered (X-Instance-Id, X-Instance-Start) and how its own time was spent (Server-Timing); turning
// those into tagged metrics is what lets the report say when new capacity answered its first request
// and how much of the latency the platform and network add on top of the service.

import http from 'k6/http';
import { Gauge, Trend } from 'k6/metrics';

// Client-side latency as a user sees it: waiting for a connection slot, connecting, TLS, sending,
// waiting and receiving. http_req_duration leaves out the connection set-up that a scale-out (new
// targets, new connections) makes users pay.
const latency = new Trend('echo_latency', true);
// Server-Timing parts, as the service measured them (ms).
const server = {
  queue: new Trend('echo_server_queue', true),
  sleep: new Trend('echo_server_sleep', true),
  cpu: new Trend('echo_server_cpu', true),
  total: new Trend('echo_server_total', true),
};
// Echo requests already in service on the instance when this one arrived.
const inFlight = new Trend('echo_in_flight');
// The wall-clock start of the scenario (ms since the epoch), recorded in setup, which ends right
// before the first arrival: the analysis aligns the planned rate and several generators on it.
const runStart = new Gauge('echo_run_start');

// Service knobs forwarded as query parameters, so the run's URL states the experiment.
const FORWARDED = { ECHO_DELAY: 'delay', ECHO_CPU: 'cpu', ECHO_STATUS: 'status', ECHO_SIZE: 'size', ECHO_SEED: 'seed' };

export function parseServerTiming(header) {
  const parts = {};
  if (!header) return parts;
  for (const entry of String(header).split(',')) {
    const [name, ...params] = entry.split(';').map((s) => s.trim());
    for (const p of params) {
      const m = /^dur=([0-9.]+)$/.exec(p);
      if (name && m) parts[name] = Number(m[1]);
    }
  }
  return parts;
}

// The cache status the answer carries, as `<header>:<value>` from the first of X-Cache (CloudFront),
// X-Cache-Status (nginx) or Age; null without any. The analysis (loadtests/analysis/cache.py)
// classifies it as hit, miss or error; '&' would break k6's tag encoding, so it is dropped.
export function cacheStatus(headers) {
  for (const name of ['X-Cache', 'X-Cache-Status', 'Age']) {
    const v = headers[name];
    if (v !== undefined && v !== '') return `${name.toLowerCase()}:${String(v).replace(/&/g, '')}`;
  }
  return null;
}

export function makeEcho(k) {
  const base = k.string('BASE_URL');
  if (base !== null && !/^https?:\/\/[^/?#]+\/?$/.test(base)) {
    throw new Error(`BASE_URL="${base}" must be scheme://host[:port] (http or https) with no path; put the path in ECHO_PATH`);
  }
  const path = k.string('ECHO_PATH');
  if (!path.startsWith('/')) throw new Error(`ECHO_PATH="${path}" must start with /`);
  const query = Object.entries(FORWARDED)
    .map(([knob, param]) => [param, k.string(knob)])
    .filter(([, v]) => v !== null)
    .map(([param, v]) => `${param}=${encodeURIComponent(v)}`)
    .join('&');
  const url = base === null ? null : `${base.replace(/\/$/, '')}${path}${query ? (path.includes('?') ? '&' : '?') + query : ''}`;
  const timeoutSeconds = k.seconds('TIMEOUT');
  const params = { timeout: `${Math.round(timeoutSeconds * 1000)}ms`, tags: { name: 'echo' } };
  const records = k.integer('RECORDS', 0, 1) === 1;

  return {
    url,
    timeoutSeconds,
    // BASE_URL is checked here rather than at init so that `k6 inspect` works without a target.
    setup() {
      if (url === null) throw new Error('BASE_URL is not set; give the service address as scheme://host[:port] (make loadtest sets it from TARGET)');
      const now = Date.now();
      runStart.add(now);
      if (records) console.log(JSON.stringify({ run_start: now }));
      return { url };
    },
    // No k6 check(): each would add a row per request to the raw CSV, and what they asked (a 2xx,
    // an instance id) is in every echo_latency sample's status and instance tags already.
    run() {
      const res = http.get(url, params);
      const t = res.timings;
      const id = res.headers['X-Instance-Id'] || 'none';
      const tags = { instance: id, instance_start: res.headers['X-Instance-Start'] || 'none', status: String(res.status) };
      const cache = cacheStatus(res.headers);
      if (cache !== null) tags.cache = cache;
      const ms = t.blocked + t.connecting + t.tls_handshaking + t.duration;
      const at = records ? Date.now() : 0;
      latency.add(ms, tags);
      const parts = parseServerTiming(res.headers['Server-Timing']);
      for (const [name, trend] of Object.entries(server)) {
        if (name in parts) trend.add(parts[name], tags);
      }
      const flight = Number(res.headers['X-In-Flight']);
      if (Number.isFinite(flight) && res.headers['X-In-Flight'] !== undefined) inFlight.add(flight, tags);
      // The request's record: what the analysis reads of the samples above, in one line instead of
      // k6's 19 CSV rows (loadtests/README.md, "Records"). `t` is when the answer was taken, as the
      // latency sample's timestamp is.
      if (records) {
        console.log(JSON.stringify({
          t: at,
          ms,
          status: res.status,
          instance: id,
          instance_start: tags.instance_start,
          cache,
          total_ms: parts.total ?? null,
          queue_ms: parts.queue ?? null,
        }));
      }
    },
  };
}
