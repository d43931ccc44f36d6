//! Fuzz target `signature`: see `hookit::fuzzing::signature`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookit::fuzzing::signature(data));
