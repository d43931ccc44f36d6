//! Fuzz target `target_policy`: see `hookit::fuzzing::target_policy`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookit::fuzzing::target_policy(data));
