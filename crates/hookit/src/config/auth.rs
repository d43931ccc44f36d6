//! The settings of failed-authentication throttling: window, limits per (client, key)
//! and per client, and the proxies whose `X-Forwarded-For` names the client.

use std::time::Duration;

use super::ConfigError;
use super::layers::Layers;
use super::values::{self, Setting};
use crate::api::client_address::TrustedProxies;
use crate::api::throttle::ThrottleLimits;

/// Flags (and environment variables) of the throttle, part of `hookit serve`'s.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct AuthArgs {
    /// The window over which failed authentications are counted [default: 60s].
    #[arg(long, env = "HOOKIT_AUTH_FAILURE_WINDOW", value_name = "DURATION")]
    pub auth_failure_window: Option<String>,
    /// Failed authentications one client may make with one key (partner key, or
    /// token) per window; more are answered 429 until it passes [default: 20].
    #[arg(long, env = "HOOKIT_AUTH_FAILURES_PER_KEY", value_name = "N")]
    pub auth_failures_per_key: Option<String>,
    /// Failed authentications one client address may make per window over all keys
    /// [default: 1000].
    #[arg(long, env = "HOOKIT_AUTH_FAILURES_PER_ADDRESS", value_name = "N")]
    pub auth_failures_per_address: Option<String>,
    /// Proxies (comma-separated CIDRs or addresses) whose X-Forwarded-For is believed:
    /// the client is then the right-most forwarded address that is not one of them
    /// [default: none].
    #[arg(long, env = "HOOKIT_TRUSTED_PROXIES", value_name = "CIDRS")]
    pub trusted_proxies: Option<String>,
}

/// The validated throttle settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub limits: ThrottleLimits,
    pub trusted_proxies: TrustedProxies,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            limits: ThrottleLimits {
                window: Duration::from_secs(60),
                per_key: 20,
                per_address: 1000,
            },
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

pub(super) const AUTH_FAILURE_WINDOW: Setting =
    Setting::new("HOOKIT_AUTH_FAILURE_WINDOW", "auth_failure_window");
pub(super) const AUTH_FAILURES_PER_KEY: Setting =
    Setting::new("HOOKIT_AUTH_FAILURES_PER_KEY", "auth_failures_per_key");
pub(super) const AUTH_FAILURES_PER_ADDRESS: Setting = Setting::new(
    "HOOKIT_AUTH_FAILURES_PER_ADDRESS",
    "auth_failures_per_address",
);
pub(super) const TRUSTED_PROXIES: Setting =
    Setting::new("HOOKIT_TRUSTED_PROXIES", "trusted_proxies");

impl AuthSettings {
    pub(super) fn load(layers: &Layers<'_>, args: &AuthArgs) -> Result<Self, ConfigError> {
        let defaults = Self::default().limits;
        let limit = |setting: &Setting, given: &Option<String>, default: u32| {
            layers
                .get(setting, given.clone(), |s| {
                    values::count_in(s, 1, 1_000_000)
                })
                .map(|value| value.map_or(default, |n| u32::try_from(n).unwrap_or(u32::MAX)))
        };
        let window = layers
            .get(
                &AUTH_FAILURE_WINDOW,
                args.auth_failure_window.clone(),
                |s| values::duration_in(s, Duration::from_millis(1), Duration::from_secs(86_400)),
            )?
            .unwrap_or(defaults.window);
        Ok(AuthSettings {
            limits: ThrottleLimits {
                window,
                per_key: limit(
                    &AUTH_FAILURES_PER_KEY,
                    &args.auth_failures_per_key,
                    defaults.per_key,
                )?,
                per_address: limit(
                    &AUTH_FAILURES_PER_ADDRESS,
                    &args.auth_failures_per_address,
                    defaults.per_address,
                )?,
            },
            trusted_proxies: layers
                .get(
                    &TRUSTED_PROXIES,
                    args.trusted_proxies.clone(),
                    TrustedProxies::parse,
                )?
                .unwrap_or_default(),
        })
    }
}
