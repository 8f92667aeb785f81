// The load profiles, all open-model (arrival-rate executors): users keep arriving at the planned rate
// however slow the service gets, which is what a spike on a real platform looks like. A closed model
// (fixed VUs) would slow down with the service and hide exactly the overload we want to measure.
//
// Each profile is one scenario named after the profile. Its `env` carries the resolved knobs so that
// `k6 inspect` (and the run folder's run.json) records the experiment exactly, defaults included.

import { Knobs, k6Duration } from './config.js';
import { makeEcho } from './echo.js';

// Planned rate as ramping-arrival-rate stages: each stage ramps linearly to `target` over `duration`;
// a zero-length stage is an instant jump.
function stagesFor(profile, k) {
  const hold = (target, seconds) => ({ target, duration: k6Duration(seconds) });
  const jump = (target) => ({ target, duration: '0s' });
  switch (profile) {
    case 'step': {
      const start = k.integer('START_RATE', 1, 1e6);
      const step = k.integer('STEP_RATE', 1, 1e6);
      const end = k.integer('END_RATE', start, 1e6);
      const length = positive(k, 'STEP_DURATION');
      const stages = [hold(start, length)];
      for (let r = start + step; r <= end; r += step) stages.push(jump(r), hold(r, length));
      return { startRate: start, stages };
    }
    case 'spike': {
      const base = k.integer('BASE_RATE', 0, 1e6);
      const peak = k.integer('PEAK', 1, 1e6);
      const lead = k.seconds('LEAD');
      const holdFor = positive(k, 'HOLD');
      const tail = k.seconds('TAIL');
      const stages = [];
      if (lead > 0) stages.push(hold(base, lead), jump(peak));
      stages.push(hold(peak, holdFor));
      if (tail > 0) stages.push(jump(base), hold(base, tail));
      return { startRate: lead > 0 ? base : peak, stages };
    }
    case 'spikes': {
      const base = k.integer('BASE_RATE', 0, 1e6);
      const peak = k.integer('PEAK', 1, 1e6);
      const lead = k.seconds('LEAD');
      const burst = positive(k, 'BURST');
      const gap = positive(k, 'GAP');
      const count = k.integer('BURSTS', 1, 1000);
      const stages = lead > 0 ? [hold(base, lead)] : [];
      for (let i = 0; i < count; i++) stages.push(jump(peak), hold(peak, burst), jump(base), hold(base, gap));
      return { startRate: lead > 0 ? base : peak, stages };
    }
    case 'ramp': {
      const start = k.integer('START_RATE', 0, 1e6);
      const end = k.integer('END_RATE', 1, 1e6);
      return { startRate: start, stages: [hold(end, positive(k, 'DURATION'))] };
    }
    default:
      return null;
  }
}

function positive(k, name) {
  const s = k.seconds(name);
  if (s <= 0) throw new Error(`${name} must be longer than 0`);
  return s;
}

// Open-model scenario plus thresholds for one profile. VUs are sized from Little's law: requests in
// flight = rate x latency. Too few VUs and k6 skips arrivals (dropped_iterations), which would make the
// offered load lower than planned; the ceiling keeps a broken target from exhausting the generator.
export function defineProfile(profile, env) {
  const k = new Knobs(profile, env);
  const echo = makeEcho(k);

  let scenario;
  let peak;
  const ramping = stagesFor(profile, k);
  if (ramping) {
    peak = Math.max(ramping.startRate, ...ramping.stages.map((s) => s.target));
    scenario = { executor: 'ramping-arrival-rate', timeUnit: '1s', ...ramping };
  } else {
    peak = k.integer('RATE', 1, 1e6);
    scenario = { executor: 'constant-arrival-rate', rate: peak, timeUnit: '1s', duration: k6Duration(positive(k, 'DURATION')) };
  }

  const expected = k.seconds('EXPECTED_LATENCY');
  const headroom = k.number('VU_HEADROOM', 1, 100);
  const preAllocatedVUs = Math.max(1, Math.ceil(peak * expected * headroom));
  const maxVUs = k.raw('MAX_VUS') === null
    ? Math.max(preAllocatedVUs, Math.ceil(peak * 2))
    : k.integer('MAX_VUS', preAllocatedVUs, 1e6);
  Object.assign(scenario, { preAllocatedVUs, maxVUs, gracefulStop: k6Duration(echo.timeoutSeconds) });

  const sloMs = k.seconds('SLO_P95') * 1000;
  const sloErrors = k.number('SLO_ERROR_RATE', 0, 1);
  const thresholds = {
    // Whole-run verdicts for the end-of-test summary; the report judges each second separately.
    echo_latency: [`p(95)<${sloMs}`],
    http_req_failed: [`rate<=${sloErrors}`],
    dropped_iterations: ['count<1'],
  };
  if (profile === 'ramp') {
    const abort = k.number('ABORT_ERROR_RATE', 0, 1);
    if (abort > 0) {
      thresholds.http_req_failed.push({ threshold: `rate<${abort}`, abortOnFail: true, delayAbortEval: '30s' });
    }
  }

  scenario.tags = { profile };
  scenario.env = k.resolved();

  return {
    options: {
      scenarios: { [profile]: scenario },
      thresholds,
      discardResponseBodies: true,
      summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'],
      // Only the system tag the analysis reads (status; instance and instance_start are the script's
      // own tags, in extra_tags). k6 cannot leave its built-in metrics out of an output (grafana/k6
      // issue 1321), so the raw CSV keeps 19 rows per request (21 with eight tags and two checks;
      // 87 instead of 96 compressed bytes per request).
      systemTags: ['status'],
      userAgent: 'delay-echo-loadtest (k6)',
    },
    setup: echo.setup,
    run: echo.run,
  };
}
