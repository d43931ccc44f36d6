//! Fuzz target `config_values`: see `hookit::fuzzing::config_values`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookit::fuzzing::config_values(data));
