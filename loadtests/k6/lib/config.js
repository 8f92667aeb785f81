// Knobs for every profile, read from __ENV once, validated, with the defaults documented here and in
// loadtests/README.md. Keeping all parsing in one place means a typo ("PEAK=5OO") stops the test at
// start-up with a message instead of silently running a different experiment.

// Every knob this library reads: name → [default, description]. `resolved()` returns the values in
// effect so the run folder records the experiment exactly.
export const KNOBS = {
  BASE_URL: [null, 'scheme://host[:port] of the service under test (required to run)'],
  ECHO_PATH: ['/', 'request path; every non-reserved path echoes'],
  ECHO_DELAY: [null, 'forwarded as ?delay= (e.g. 80ms, 50ms..150ms, lognormal(80ms,400ms))'],
  ECHO_CPU: [null, 'forwarded as ?cpu= (CPU time burned per request, e.g. 5ms)'],
  ECHO_STATUS: [null, 'forwarded as ?status= (e.g. 200, 503:5)'],
  ECHO_SIZE: [null, 'forwarded as ?size= (response body size, e.g. 1KiB)'],
  ECHO_SEED: [null, 'forwarded as ?seed= (reproducible random choices)'],
  TIMEOUT: ['30s', 'client timeout per request'],
  SLO_P95: ['250ms', 'latency objective: p95 per second must stay under it'],
  SLO_ERROR_RATE: ['0.01', 'error objective: share of failed requests per second'],
  EXPECTED_LATENCY: ['150ms', 'latency used to pre-allocate VUs (rate x latency x VU_HEADROOM)'],
  VU_HEADROOM: ['2', 'multiplier on rate x EXPECTED_LATENCY for pre-allocated VUs'],
  MAX_VUS: [null, 'VU ceiling; default covers 2 s latency at the peak rate'],
  RATE: [null, 'smoke/steady/soak: constant arrival rate, req/s'],
  DURATION: [null, 'smoke/steady/soak/ramp: test length'],
  START_RATE: [null, 'step/ramp: first rate, req/s'],
  STEP_RATE: ['100', 'step: rate added at each step, req/s'],
  END_RATE: [null, 'step/ramp: last rate, req/s'],
  STEP_DURATION: ['60s', 'step: how long each step is held'],
  BASE_RATE: [null, 'spike/spikes: rate before, between and after the bursts, req/s'],
  PEAK: ['500', 'spike/spikes: burst rate, req/s'],
  LEAD: [null, 'spike/spikes: time at BASE_RATE before the first burst'],
  HOLD: ['2m', 'spike: how long the peak is held'],
  TAIL: ['0s', 'spike: time at BASE_RATE after the drop (to watch scale-in)'],
  BURST: ['30s', 'spikes: length of each burst'],
  GAP: ['90s', 'spikes: time at BASE_RATE between bursts'],
  BURSTS: ['3', 'spikes: number of bursts'],
  ABORT_ERROR_RATE: ['0.1', 'ramp: stop once the error share of the whole run exceeds it (0: never)'],
  RECORDS: ['0', '1: one JSON line per request through console.log (run with --console-output FILE)'],
};

// Per-profile defaults for knobs whose default depends on the profile.
const PROFILE_DEFAULTS = {
  smoke: { RATE: '2', DURATION: '10s' },
  steady: { RATE: '100', DURATION: '5m' },
  step: { START_RATE: '200', END_RATE: '900' },
  spike: { BASE_RATE: '0', LEAD: '0s' },
  spikes: { BASE_RATE: '50', LEAD: '60s' },
  ramp: { START_RATE: '10', END_RATE: '1000', DURATION: '10m' },
  soak: { RATE: '100', DURATION: '1h' },
};

export class Knobs {
  constructor(profile, env) {
    if (!(profile in PROFILE_DEFAULTS)) {
      throw new Error(`unknown profile "${profile}"; allowed: ${Object.keys(PROFILE_DEFAULTS).join(', ')}`);
    }
    this.profile = profile;
    this.env = env;
    this.used = {};
  }

  raw(name) {
    if (!(name in KNOBS)) throw new Error(`internal: knob ${name} is not declared in KNOBS`);
    const given = this.env[name];
    const value = given !== undefined && given !== '' ? given : (PROFILE_DEFAULTS[this.profile][name] ?? KNOBS[name][0]);
    if (value !== null) this.used[name] = String(value);
    return value;
  }

  string(name) {
    return this.raw(name);
  }

  // A rate in requests per second: a non-negative number.
  rate(name) {
    return this.number(name, 0, 1e6);
  }

  number(name, min, max) {
    const v = this.raw(name);
    const n = Number(v);
    if (v === null || !Number.isFinite(n) || n < min || n > max) {
      throw new Error(`${name}="${v}" is not a number in [${min}, ${max}]`);
    }
    return n;
  }

  integer(name, min, max) {
    const n = this.number(name, min, max);
    if (!Number.isInteger(n)) throw new Error(`${name}="${n}" must be a whole number`);
    return n;
  }

  // A duration in seconds from k6's notation: 90s, 1m30s, 250ms, 1h; a bare 0 is allowed.
  seconds(name) {
    const v = this.raw(name);
    const s = parseDuration(v);
    if (s === null) {
      throw new Error(`${name}="${v}" is not a duration; use a number with a unit (250ms, 30s, 2m, 1h30m) or 0`);
    }
    return s;
  }

  // The knobs in effect (given or defaulted), as strings, for the run record.
  resolved() {
    return Object.assign({ PROFILE: this.profile }, this.used);
  }
}

const UNITS = { ms: 0.001, s: 1, m: 60, h: 3600 };

export function parseDuration(v) {
  if (v === null || v === undefined) return null;
  const text = String(v).trim();
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index !== consumed) return null;
    total += Number(m[1]) * UNITS[m[2]];
    consumed = re.lastIndex;
  }
  return consumed === text.length && consumed > 0 ? total : null;
}

// k6 wants durations as strings; whole milliseconds keep them exact.
export function k6Duration(seconds) {
  return `${Math.round(seconds * 1000)}ms`;
}
