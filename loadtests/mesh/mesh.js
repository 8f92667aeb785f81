// k6 script "mesh": the network time between every ordered pair of regions (loadtests/mesh;
// not a load profile, so it lives here rather than in loadtests/k6).
// For each pair a -> b it sends `GET <a>/?hop=b&delay=0&format=json` at MESH_RATE requests per
// second for MESH_DURATION (open model: constant-arrival-rate, one scenario per pair, all at
// once), and records the leg's `network_ms` (a's round trip to b minus b's own total) and the
// client's own network time to a (its round trip minus a's total, `chain[0].server_ms`).
// Knobs (__ENV): MESH_PEERS="name=url,name=url" (required), MESH_RATE (per pair, default 10),
// MESH_DURATION (default 30s), MESH_SUMMARY (where handleSummary writes the JSON summary),
// MESH_RECORDS=1: one JSON line per request through console.log (run with --log-format raw
// --console-output FILE): `t` (its start, epoch s), `pair`, `status`, `ms`, `network_ms`, so a run
// with faults can say which requests failed when (loadtests/mesh/timeline.py).
// Run through `make mesh`, which reads the summary into mesh.json and the report.
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';

function fail(msg) {
  throw new Error(msg);
}

const peers = (__ENV.MESH_PEERS || '')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s.length > 0)
  .map((s) => {
    const i = s.indexOf('=');
    if (i <= 0) fail(`MESH_PEERS entry "${s}" is not name=url`);
    return { name: s.slice(0, i), url: s.slice(i + 1).replace(/\/+$/, '') };
  });
if (peers.length < 2) fail('MESH_PEERS needs at least two name=url entries');
const rate = Number(__ENV.MESH_RATE || '10');
if (!Number.isInteger(rate) || rate < 1 || rate > 1000) fail(`MESH_RATE="${__ENV.MESH_RATE}" must be a whole number of requests per second per pair, 1 to 1000`);
const duration = __ENV.MESH_DURATION || '30s';
const records = __ENV.MESH_RECORDS === '1';
if (!/^[0-9]+(ms|s|m)$/.test(duration)) fail(`MESH_DURATION="${duration}" must be a duration like 30s or 2m`);

// Metric names allow only [A-Za-z0-9_]: pairs and regions are named by their index in MESH_PEERS.
const network = {};
const errors = {};
const client = {};
const scenarios = {};
// The pairs' requests are spread evenly over each 1/rate s period (scenario k starts k/(pairs*rate)
// s late) rather than all sent at the same instants: an instance serves its legs one at a time
// (`--workers 1` in the rehearsal), and a leg queued behind another pair's would count the wait
// as network time.
const pairCount = peers.length * (peers.length - 1);
let pairIndex = 0;
peers.forEach((a, i) => {
  client[i] = new Trend(`mesh_client_${i}`);
  peers.forEach((b, j) => {
    if (i === j) return;
    network[`${i}_${j}`] = new Trend(`mesh_network_${i}_${j}`);
    errors[`${i}_${j}`] = new Counter(`mesh_errors_${i}_${j}`);
    scenarios[`pair_${i}_${j}`] = {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration,
      preAllocatedVUs: Math.max(2, Math.ceil(rate / 4)),
      maxVUs: Math.max(10, rate * 2),
      startTime: `${Math.round((pairIndex++ * 1000) / (rate * pairCount))}ms`,
      exec: 'pair',
      env: { MESH_SRC: String(i), MESH_DST: String(j) },
      tags: { pair: `${a.name}>${b.name}` },
    };
  });
});

export const options = {
  scenarios,
  summaryTrendStats: ['count', 'med', 'p(90)', 'p(99)', 'max'],
  discardResponseBodies: false,
};

export function pair() {
  const i = Number(__ENV.MESH_SRC);
  const j = Number(__ENV.MESH_DST);
  const key = `${i}_${j}`;
  const started = Date.now() / 1000;
  const res = http.get(`${peers[i].url}/?hop=${encodeURIComponent(peers[j].name)}&delay=0&format=json`, {
    tags: { name: 'mesh' },
  });
  let leg = null;
  let first = null;
  if (res.status === 200) {
    try {
      const chain = res.json('chain');
      first = chain && chain[0];
      leg = first && first.next;
    } catch (e) {
      leg = null;
    }
  }
  const ok = leg && typeof leg.network_ms === 'number' && typeof first.server_ms === 'number';
  if (records) {
    console.log(JSON.stringify({
      t: started,
      pair: `${peers[i].name}>${peers[j].name}`,
      status: res.status,
      ms: res.timings.duration,
      network_ms: ok ? leg.network_ms : null,
    }));
  }
  if (!ok) {
    errors[key].add(1);
    return;
  }
  network[key].add(leg.network_ms);
  client[i].add(res.timings.duration - first.server_ms);
}

export function handleSummary(data) {
  const out = { stdout: `mesh: ${Object.keys(network).length} pairs, ${rate}/s each for ${duration}\n` };
  if (__ENV.MESH_SUMMARY) out[__ENV.MESH_SUMMARY] = JSON.stringify({ peers, rate, duration, metrics: data.metrics });
  return out;
}
