// k6 profile "soak" for delay-echo: see loadtests/README.md for what it models and its knobs.
import { defineProfile } from './lib/profiles.js';

const profile = defineProfile('soak', __ENV);
export const options = profile.options;
export const setup = profile.setup;
export default profile.run;
