// k6 profile "spike" for delay-echo: see loadtests/README.md for what it models and its knobs.
import { defineProfile } from './lib/profiles.js';

const profile = defineProfile('spike', __ENV);
export const options = profile.options;
export const setup = profile.setup;
export default profile.run;
