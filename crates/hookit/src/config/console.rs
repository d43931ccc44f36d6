//! The settings of the web console: whether `hookit serve` serves it, and how long a
//! console session lasts.

use std::time::Duration;

use super::ConfigError;
use super::layers::Layers;
use super::values::{self, Setting};

/// Flags (and environment variables) of the console, part of `hookit serve`'s.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ConsoleArgs {
    /// Serve the web console under /console/ (`on` or `off`) [default: on].
    #[arg(long, env = "HOOKIT_CONSOLE", value_name = "on|off")]
    pub console: Option<String>,
    /// How long a console login lasts before it must be repeated, 1m to 7d
    /// [default: 8h].
    #[arg(long, env = "HOOKIT_CONSOLE_SESSION_TTL", value_name = "DURATION")]
    pub console_session_ttl: Option<String>,
}

/// The validated console settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleSettings {
    pub enabled: bool,
    pub session_ttl: Duration,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            enabled: true,
            session_ttl: Duration::from_secs(8 * 3600),
        }
    }
}

pub(super) const CONSOLE: Setting = Setting::new("HOOKIT_CONSOLE", "console");
pub(super) const CONSOLE_SESSION_TTL: Setting =
    Setting::new("HOOKIT_CONSOLE_SESSION_TTL", "console_session_ttl");

impl ConsoleSettings {
    pub(super) fn load(layers: &Layers<'_>, args: &ConsoleArgs) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(ConsoleSettings {
            enabled: layers
                .get(&CONSOLE, args.console.clone(), values::boolean)?
                .unwrap_or(defaults.enabled),
            session_ttl: layers
                .get(
                    &CONSOLE_SESSION_TTL,
                    args.console_session_ttl.clone(),
                    |s| {
                        values::duration_in(
                            s,
                            Duration::from_secs(60),
                            Duration::from_secs(7 * 86_400),
                        )
                    },
                )?
                .unwrap_or(defaults.session_ttl),
        })
    }
}
