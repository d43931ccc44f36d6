//! The settings of the HTTP listener: the deadlines that keep slow clients from
//! holding connections, the cap on concurrent connections, and where `/metrics` is
//! served.

use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigError;
use super::layers::Layers;
use super::values::{self, Setting};
use crate::credentials::Secret;

/// Flags (and environment variables) of the HTTP listener, part of `hookit serve`'s.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct HttpArgs {
    /// Time a client has to send a request's whole header block, from its first byte
    /// (or from the connection's opening) [default: 10s].
    #[arg(long, env = "HOOKIT_HEADER_TIMEOUT", value_name = "DURATION")]
    pub header_timeout: Option<String>,
    /// Time a client has to send a request's whole body, from the end of its headers;
    /// a body still incomplete then is answered 408 [default: 30s].
    #[arg(long, env = "HOOKIT_BODY_TIMEOUT", value_name = "DURATION")]
    pub body_timeout: Option<String>,
    /// How long a keep-alive connection may sit idle between requests before it is
    /// closed [default: 60s].
    #[arg(long, env = "HOOKIT_IDLE_TIMEOUT", value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// Most client connections open at once; further clients wait to be accepted
    /// [default: 1024].
    #[arg(long, env = "HOOKIT_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<String>,
    /// Serve `/metrics` on this address of its own (e.g. 127.0.0.1:9090) instead of the
    /// API port [default: not served separately].
    #[arg(long, env = "HOOKIT_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Serve `/metrics` on the API port to requests bearing this token
    /// (`Authorization: Bearer <token>`) [default: not served on the API port].
    #[arg(
        long,
        env = "HOOKIT_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<Secret>,
}

/// The validated listener settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Where `/metrics` is served on an address of its own, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// The bearer token that opens `/metrics` on the API port, if any.
    pub metrics_token: Option<Secret>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            metrics_listen: None,
            metrics_token: None,
        }
    }
}

pub(super) const HEADER_TIMEOUT: Setting = Setting::new("HOOKIT_HEADER_TIMEOUT", "header_timeout");
pub(super) const BODY_TIMEOUT: Setting = Setting::new("HOOKIT_BODY_TIMEOUT", "body_timeout");
pub(super) const IDLE_TIMEOUT: Setting = Setting::new("HOOKIT_IDLE_TIMEOUT", "idle_timeout");
pub(super) const MAX_CONNECTIONS: Setting =
    Setting::new("HOOKIT_MAX_CONNECTIONS", "max_connections");
pub(super) const METRICS_LISTEN: Setting = Setting::new("HOOKIT_METRICS_LISTEN", "metrics_listen");
const METRICS_TOKEN: Setting = Setting::new("HOOKIT_METRICS_TOKEN", "metrics_token");

impl HttpSettings {
    pub(super) fn load(layers: &Layers<'_>, args: &HttpArgs) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let deadline = |setting: &Setting, given: &Option<String>, default: Duration| {
            layers
                .get(setting, given.clone(), |s| {
                    values::duration_in(s, Duration::from_millis(1), Duration::from_secs(3600))
                })
                .map(|value| value.unwrap_or(default))
        };
        Ok(HttpSettings {
            header_timeout: deadline(
                &HEADER_TIMEOUT,
                &args.header_timeout,
                defaults.header_timeout,
            )?,
            body_timeout: deadline(&BODY_TIMEOUT, &args.body_timeout, defaults.body_timeout)?,
            idle_timeout: deadline(&IDLE_TIMEOUT, &args.idle_timeout, defaults.idle_timeout)?,
            max_connections: layers
                .get(&MAX_CONNECTIONS, args.max_connections.clone(), |s| {
                    values::count_in(s, 1, 1_000_000)
                })?
                .unwrap_or(defaults.max_connections),
            metrics_listen: layers.get(
                &METRICS_LISTEN,
                args.metrics_listen.clone(),
                values::socket_addr,
            )?,
            metrics_token: super::checked_secret(&METRICS_TOKEN, &args.metrics_token, |_| Ok(()))?,
        })
    }
}
