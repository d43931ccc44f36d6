//! The settings of retention: how long finished work is kept, and how often the
//! pruner looks for what is past its time.

use std::time::Duration;

use super::ConfigError;
use super::layers::Layers;
use super::values::{self, Setting};
use crate::store::RetentionPolicy;

/// Flags (and environment variables) of retention, part of `hookit serve`'s.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct RetentionArgs {
    /// How long delivered deliveries (bodies and attempts) are kept [default: 30d].
    #[arg(long, env = "HOOKIT_RETAIN_DELIVERED", value_name = "DURATION")]
    pub retain_delivered: Option<String>,
    /// How long dead deliveries (bodies and attempts) are kept [default: 90d].
    #[arg(long, env = "HOOKIT_RETAIN_DEAD", value_name = "DURATION")]
    pub retain_dead: Option<String>,
    /// How long orders and their change snapshots are kept after their last change,
    /// once no kept delivery needs them; a pruned order's tombstone is kept as long
    /// again [default: 90d].
    #[arg(long, env = "HOOKIT_RETAIN_ORDERS", value_name = "DURATION")]
    pub retain_orders: Option<String>,
    /// How long idempotency keys (and the answers kept under them) are kept [default: 24h].
    #[arg(long, env = "HOOKIT_RETAIN_IDEMPOTENCY_KEYS", value_name = "DURATION")]
    pub retain_idempotency_keys: Option<String>,
    /// How often the pruner removes what is past its retention [default: 1m].
    #[arg(long, env = "HOOKIT_PRUNE_INTERVAL", value_name = "DURATION")]
    pub prune_interval: Option<String>,
}

/// The validated retention settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    pub policy: RetentionPolicy,
    pub prune_interval: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            policy: RetentionPolicy::default(),
            prune_interval: Duration::from_secs(60),
        }
    }
}

pub(super) const RETAIN_DELIVERED: Setting =
    Setting::new("HOOKIT_RETAIN_DELIVERED", "retain_delivered");
pub(super) const RETAIN_DEAD: Setting = Setting::new("HOOKIT_RETAIN_DEAD", "retain_dead");
pub(super) const RETAIN_ORDERS: Setting = Setting::new("HOOKIT_RETAIN_ORDERS", "retain_orders");
pub(super) const RETAIN_IDEMPOTENCY_KEYS: Setting =
    Setting::new("HOOKIT_RETAIN_IDEMPOTENCY_KEYS", "retain_idempotency_keys");
pub(super) const PRUNE_INTERVAL: Setting = Setting::new("HOOKIT_PRUNE_INTERVAL", "prune_interval");

/// The longest retention accepted: ten years.
const LONGEST: Duration = Duration::from_secs(3650 * 86_400);

impl RetentionSettings {
    pub(super) fn load(layers: &Layers<'_>, args: &RetentionArgs) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let kept = |setting: &Setting, given: &Option<String>, default: Duration| {
            layers
                .get(setting, given.clone(), |s| {
                    values::duration_in(s, Duration::from_millis(1), LONGEST)
                })
                .map(|value| value.unwrap_or(default))
        };
        let policy = RetentionPolicy {
            delivered: kept(
                &RETAIN_DELIVERED,
                &args.retain_delivered,
                defaults.policy.delivered,
            )?,
            dead: kept(&RETAIN_DEAD, &args.retain_dead, defaults.policy.dead)?,
            orders: kept(&RETAIN_ORDERS, &args.retain_orders, defaults.policy.orders)?,
            idempotency_keys: kept(
                &RETAIN_IDEMPOTENCY_KEYS,
                &args.retain_idempotency_keys,
                defaults.policy.idempotency_keys,
            )?,
        };
        let prune_interval = layers
            .get(&PRUNE_INTERVAL, args.prune_interval.clone(), |s| {
                values::duration_in(s, Duration::from_millis(1), Duration::from_secs(86_400))
            })?
            .unwrap_or(defaults.prune_interval);
        Ok(RetentionSettings {
            policy,
            prune_interval,
        })
    }
}
