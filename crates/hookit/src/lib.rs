//! hookit: klikit's order-webhook service.
//!
//! The binary (`src/main.rs`) is a thin command line over these modules; they live in a
//! library so that integration tests and benchmarks can reach the store and the
//! configuration directly.
#![forbid(unsafe_code)]

pub mod listen;
