#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| delay_echo_fuzz::config_body(data));
