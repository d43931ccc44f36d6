//! The settings of endpoint health: when an endpoint's circuit opens, how long it
//! cools down between probes, and when a failing endpoint is disabled.

use std::time::Duration;

use super::ConfigError;
use super::layers::Layers;
use super::values::{self, Setting};
use crate::store::EndpointPolicy;

/// Flags (and environment variables) of endpoint health, part of `hookit serve`'s.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct EndpointHealthArgs {
    /// Consecutive failed attempts to one endpoint (partner, URL) that open its
    /// circuit, together with HOOKIT_BREAKER_MIN_FAILING, 1 to 100000 [default: 20].
    #[arg(long, env = "HOOKIT_BREAKER_FAILURES", value_name = "N")]
    pub breaker_failures: Option<String>,
    /// The least time those failures must span for the circuit to open, 0 to 7d
    /// [default: 5m].
    #[arg(long, env = "HOOKIT_BREAKER_MIN_FAILING", value_name = "DURATION")]
    pub breaker_min_failing: Option<String>,
    /// How long an open circuit waits before its first probe; it doubles after each
    /// failed probe, up to 30m; 1ms to 30m [default: 30s].
    #[arg(long, env = "HOOKIT_BREAKER_COOLDOWN", value_name = "DURATION")]
    pub breaker_cooldown: Option<String>,
    /// An endpoint failing without a success this long is disabled until an operator
    /// enables it (a 410 Gone disables it at once), 1ms to 365d [default: 5d].
    #[arg(long, env = "HOOKIT_DISABLE_AFTER", value_name = "DURATION")]
    pub disable_after: Option<String>,
}

pub(super) const BREAKER_FAILURES: Setting =
    Setting::new("HOOKIT_BREAKER_FAILURES", "breaker_failures");
pub(super) const BREAKER_MIN_FAILING: Setting =
    Setting::new("HOOKIT_BREAKER_MIN_FAILING", "breaker_min_failing");
pub(super) const BREAKER_COOLDOWN: Setting =
    Setting::new("HOOKIT_BREAKER_COOLDOWN", "breaker_cooldown");
pub(super) const DISABLE_AFTER: Setting = Setting::new("HOOKIT_DISABLE_AFTER", "disable_after");

pub(super) fn load(
    layers: &Layers<'_>,
    args: &EndpointHealthArgs,
) -> Result<EndpointPolicy, ConfigError> {
    let defaults = EndpointPolicy::default();
    let duration = |setting: &Setting, given: &Option<String>, min, max, default| {
        layers
            .get(setting, given.clone(), |s| values::duration_in(s, min, max))
            .map(|value| value.unwrap_or(default))
    };
    const DAY: u64 = 86_400;
    Ok(EndpointPolicy {
        failures: layers
            .get(&BREAKER_FAILURES, args.breaker_failures.clone(), |s| {
                values::count_in(s, 1, 100_000)
            })?
            .map_or(defaults.failures, |n| n as u32),
        min_failing: duration(
            &BREAKER_MIN_FAILING,
            &args.breaker_min_failing,
            Duration::ZERO,
            Duration::from_secs(7 * DAY),
            defaults.min_failing,
        )?,
        cooldown: duration(
            &BREAKER_COOLDOWN,
            &args.breaker_cooldown,
            Duration::from_millis(1),
            crate::store::endpoint_health::MAX_COOLDOWN,
            defaults.cooldown,
        )?,
        disable_after: duration(
            &DISABLE_AFTER,
            &args.disable_after,
            Duration::from_millis(1),
            Duration::from_secs(365 * DAY),
            defaults.disable_after,
        )?,
    })
}
