//! The integration tests, one crate so the shared harness (`common`) compiles once.
//! `cargo test --test it MODULE::` runs one module, e.g. `cargo test --test it watch_ha::`.

mod common;

mod cli;
mod cluster;
mod corpus;
mod digest_cache;
mod digest_properties;
mod fan_out;
mod hostile;
mod kinds;
mod limits;
mod listen;
mod names;
mod plan;
mod secrets;
mod shutdown;
mod tls_reload;
mod watch;
mod watch_ha;
mod watch_kinds;
mod watch_lease;
mod watch_metadata;
mod watch_policy;
mod watch_process;
mod watch_scope;
mod watch_secrets;
mod webhook;
