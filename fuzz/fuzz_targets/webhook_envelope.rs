//! Fuzz target `webhook_envelope`: see `hookit::fuzzing::webhook_envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookit::fuzzing::webhook_envelope(data));
