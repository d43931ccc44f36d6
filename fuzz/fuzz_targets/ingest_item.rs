//! Fuzz target `ingest_item`: see `hookit::fuzzing::ingest_item`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookit::fuzzing::ingest_item(data));
