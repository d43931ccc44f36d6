//! hookit: klikit's order-webhook service.
//!
//! The binary (`src/main.rs`) is a thin command line over these modules; they live in a
//! library so that integration tests and benchmarks can reach the store and the
//! configuration directly.
//!
//! - [`store`]: everything hookit keeps, behind one trait (SQLite today).
//! - [`api`]: the operator and ingest HTTP APIs; handlers write to the store and return.
//! - [`dispatcher`]: batches stored changes into deliveries and sends them.
//! - [`pruner`]: removes what is past its retention, in bounded batches.
//! - [`serve`]: wires configuration, store, dispatcher and APIs into `hookit serve`.
//! - [`listen`]: the partner-side receiver, `hookit listen`.
//! - [`cli`]: the operator's commands, clients of the operator API.
//! - [`demo`] and [`bench`]: the whole system on this machine, shown and measured.
#![forbid(unsafe_code)]

pub mod api;
pub mod bench;
pub mod cli;
pub mod config;
pub mod console;
pub mod credentials;
pub mod demo;
pub mod dispatcher;
pub mod fuzzing;
pub mod ids;
pub mod listen;
pub mod metrics;
pub mod order_flow;
pub mod private_files;
pub mod pruner;
pub mod serve;
pub mod store;
pub mod target_policy;
