// k6 profile "spikes" for delay-echo: see loadtests/README.md for what it models and its knobs.
import { defineProfile } from './lib/profiles.js';

const profile = defineProfile('spikes', __ENV);
export const options = profile.options;
export const setup = profile.setup;
export default profile.run;
