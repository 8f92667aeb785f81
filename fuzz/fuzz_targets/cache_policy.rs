#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| delay_echo_fuzz::cache_policy(data));
