//! Configuration of `hookit serve`, validated once at start.
//!
//! Every setting is layered: command-line flag, then environment variable (both read
//! by clap into [`ServeArgs`]), then the optional TOML file (`--config` /
//! `HOOKIT_CONFIG`), then the default. Errors name the setting by flag, environment
//! variable and file key, show the rejected value and say what is expected. The
//! environment variable names are a public contract.

mod auth;
mod console;
mod database;
mod endpoint_health;
mod http;
mod layers;
mod retention;
mod values;

pub use auth::{AuthArgs, AuthSettings};
pub use console::{ConsoleArgs, ConsoleSettings};
pub use database::{DatabaseArgs, DatabaseSettings};
pub use endpoint_health::EndpointHealthArgs;
pub use http::{HttpArgs, HttpSettings};
pub use retention::{RetentionArgs, RetentionSettings};

pub use values::{
    DatabaseLocation, DurationError, Origin, format_duration, parse_byte_size, parse_duration,
};

/// Parses a retry schedule as `HOOKIT_RETRY_SCHEDULE` takes it (`5s,30s,2m`); for the
/// fuzz targets, which call the configuration's parsers directly.
pub fn parse_retry_schedule(text: &str) -> Result<Vec<Duration>, String> {
    values::schedule(text)
}

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::credentials::{MasterKey, Secret};
use crate::target_policy::ExtraRoots;
use layers::{ConfigFile, Layers};
use values::Setting;

const MIB: usize = 1024 * 1024;

/// Command-line flags of `hookit serve`; each falls back to its environment variable.
/// All are optional so that the config file and the defaults can fill the gaps.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// TOML file with further settings (keys are the snake_case setting names).
    #[arg(long = "config", env = "HOOKIT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database and generated secrets [default: ./hookit-data].
    #[arg(long, env = "HOOKIT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH, a file path, or postgres://… [default: DATA_DIR/hookit.db].
    #[arg(
        long,
        env = "HOOKIT_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Address of the HTTP API [default: 127.0.0.1:8080].
    #[arg(long, env = "HOOKIT_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Bearer token of the `root` operator [default: DATA_DIR/operator-token, created if missing].
    #[arg(
        long,
        env = "HOOKIT_OPERATOR_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub operator_token: Option<Secret>,
    /// Bearer token of the ingest API [default: DATA_DIR/ingest-token, created if missing].
    #[arg(
        long,
        env = "HOOKIT_INGEST_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub ingest_token: Option<Secret>,
    /// Key encrypting webhook secrets at rest, 64 hex characters or base64 of 32 bytes
    /// [default: DATA_DIR/master-key, created if missing].
    #[arg(
        long,
        env = "HOOKIT_MASTER_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub master_key: Option<Secret>,
    /// Allow webhooks to loopback, private and link-local addresses and plain http
    /// (local development and tests) [default: false].
    #[arg(
        long,
        env = "HOOKIT_ALLOW_PRIVATE_TARGETS",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub allow_private_targets: Option<String>,
    /// PEM file of certificate authorities to trust for webhook targets, beside the
    /// public roots (partners behind a private CA) [default: none].
    #[arg(long, env = "HOOKIT_EXTRA_CA_FILE", value_name = "PATH")]
    pub extra_ca_file: Option<PathBuf>,
    /// Dispatch tick: how long orders gather into one batch [default: 100ms].
    #[arg(long, env = "HOOKIT_TICK", value_name = "DURATION")]
    pub tick: Option<String>,
    /// Most orders in one delivery, 1..=1000 [default: 50].
    #[arg(long, env = "HOOKIT_MAX_BATCH_ORDERS", value_name = "N")]
    pub max_batch_orders: Option<String>,
    /// Most body bytes in one delivery, e.g. 1MiB or 1048576 [default: 1MiB].
    #[arg(long, env = "HOOKIT_MAX_BATCH_BYTES", value_name = "SIZE")]
    pub max_batch_bytes: Option<String>,
    /// Time limit of one delivery attempt [default: 10s].
    #[arg(long, env = "HOOKIT_ATTEMPT_TIMEOUT", value_name = "DURATION")]
    pub attempt_timeout: Option<String>,
    /// Delays between attempts, comma-separated [default: 5s,30s,2m,10m,30m,1h,2h,4h,8h,12h,24h].
    #[arg(long, env = "HOOKIT_RETRY_SCHEDULE", value_name = "DURATIONS")]
    pub retry_schedule: Option<String>,
    /// How long a claimed delivery stays reserved; must exceed the attempt timeout [default: 30s].
    #[arg(long, env = "HOOKIT_CLAIM_LEASE", value_name = "DURATION")]
    pub claim_lease: Option<String>,
    /// Largest accepted API request body [default: 1MiB].
    #[arg(long, env = "HOOKIT_MAX_BODY_BYTES", value_name = "SIZE")]
    pub max_body_bytes: Option<String>,
    /// Most delivery attempts in flight overall [default: 128].
    #[arg(long, env = "HOOKIT_WORKERS", value_name = "N")]
    pub workers: Option<String>,
    /// Most delivery attempts in flight to one URL [default: 8].
    #[arg(long, env = "HOOKIT_PER_URL_CONCURRENCY", value_name = "N")]
    pub per_url_concurrency: Option<String>,
    /// Share of the workers that slow hosts may hold together: hosts whose last attempt
    /// timed out or took over half the attempt timeout, or that have not answered yet;
    /// more than 0, at most 1 [default: 0.5].
    #[arg(long, env = "HOOKIT_SLOW_HOST_SHARE", value_name = "FRACTION")]
    pub slow_host_share: Option<String>,
    /// How far klikit's clock and this server's may disagree when a pushed record
    /// without `updated_at` meets one with it in the stale check; an `updated_at` more
    /// than this plus a day ahead is refused, 0 to 1h [default: 5s].
    #[arg(long, env = "HOOKIT_FRESHNESS_SKEW", value_name = "DURATION")]
    pub freshness_skew: Option<String>,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub endpoint_health: EndpointHealthArgs,
    #[command(flatten)]
    pub console: ConsoleArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub database_connection: DatabaseArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
}

/// The validated configuration of `hookit serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub database: DatabaseLocation,
    pub listen: SocketAddr,
    /// `None`: use or create the `operator-token` file in the data directory.
    pub operator_token: Option<Secret>,
    /// `None`: use or create the `ingest-token` file in the data directory.
    pub ingest_token: Option<Secret>,
    /// `None`: use or create the `master-key` file. When set, it is known to parse as a
    /// [`MasterKey`].
    pub master_key: Option<Secret>,
    pub allow_private_targets: bool,
    /// Extra trusted certificate authorities; empty unless `HOOKIT_EXTRA_CA_FILE` is set.
    pub extra_roots: ExtraRoots,
    pub tick: Duration,
    pub attempt_timeout: Duration,
    pub claim_lease: Duration,
    pub retry_schedule: Vec<Duration>,
    pub max_batch_orders: usize,
    pub max_batch_bytes: usize,
    pub max_body_bytes: usize,
    pub workers: usize,
    pub per_url_concurrency: usize,
    pub slow_host_share: f64,
    pub freshness_skew: Duration,
    /// When circuits open and endpoints are disabled.
    pub endpoint_policy: crate::store::EndpointPolicy,
    /// Throttling of failed authentications.
    pub auth: AuthSettings,
    /// The web console.
    pub console: ConsoleSettings,
    /// Deadlines and limits of the HTTP listener, and where `/metrics` is served.
    pub http: HttpSettings,
    /// Pool and timeouts of a PostgreSQL store (unused by SQLite).
    pub database_connection: DatabaseSettings,
    /// How long finished work is kept, and how often the pruner runs.
    pub retention: RetentionSettings,
}

/// Why the configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path} (--config / HOOKIT_CONFIG): {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    FileSyntax { path: PathBuf, message: String },
    #[error(
        "config file {path} sets `{key}`, but secrets don't belong in config files (they get \
         copied, committed and backed up); remove it and set the environment variable {env} \
         instead, or leave both unset to have hookit create and keep it in the data directory"
    )]
    SecretInFile {
        path: PathBuf,
        key: &'static str,
        env: &'static str,
    },
    #[error("config file {path} has an unknown key `{key}`; the known keys are: {known}")]
    UnknownKey {
        path: PathBuf,
        key: String,
        known: String,
    },
    #[error(
        "invalid value {value} for {env} (flag --{flag}, config key `{key}`), {origin}: {problem}",
        flag = .key.replace('_', "-")
    )]
    Invalid {
        env: &'static str,
        key: &'static str,
        value: String,
        origin: Origin,
        problem: String,
    },
    #[error("invalid {env} (flag --{flag}; the value is not shown): {problem}", flag = .env.trim_start_matches("HOOKIT_").to_lowercase().replace('_', "-"))]
    InvalidSecret { env: &'static str, problem: String },
    #[error(
        "HOOKIT_CLAIM_LEASE ({lease}) must be longer than HOOKIT_ATTEMPT_TIMEOUT ({timeout}): \
         a claimed delivery must stay reserved until its attempt has finished, or another \
         worker could send it again while the first attempt is still in flight; raise the \
         lease (e.g. to 3 × the timeout) or lower the timeout"
    )]
    LeaseTooShort { lease: String, timeout: String },
    #[error(
        "HOOKIT_DATABASE_URL names a PostgreSQL database, which several hookit processes \
         may share, so each must be given the same secrets rather than create its own: \
         set {} (the same values on every process)",
        .missing.join(", ")
    )]
    SharedSecretsMissing { missing: Vec<&'static str> },
}

const DATA_DIR: Setting = Setting::new("HOOKIT_DATA_DIR", "data_dir");
const DATABASE_URL: Setting = Setting::new("HOOKIT_DATABASE_URL", "database_url");
const LISTEN: Setting = Setting::new("HOOKIT_LISTEN", "listen");
const OPERATOR_TOKEN: Setting = Setting::new("HOOKIT_OPERATOR_TOKEN", "operator_token");
const INGEST_TOKEN: Setting = Setting::new("HOOKIT_INGEST_TOKEN", "ingest_token");
const MASTER_KEY: Setting = Setting::new("HOOKIT_MASTER_KEY", "master_key");
const ALLOW_PRIVATE: Setting =
    Setting::new("HOOKIT_ALLOW_PRIVATE_TARGETS", "allow_private_targets");
const EXTRA_CA_FILE: Setting = Setting::new("HOOKIT_EXTRA_CA_FILE", "extra_ca_file");
const TICK: Setting = Setting::new("HOOKIT_TICK", "tick");
const MAX_BATCH_ORDERS: Setting = Setting::new("HOOKIT_MAX_BATCH_ORDERS", "max_batch_orders");
const MAX_BATCH_BYTES: Setting = Setting::new("HOOKIT_MAX_BATCH_BYTES", "max_batch_bytes");
const ATTEMPT_TIMEOUT: Setting = Setting::new("HOOKIT_ATTEMPT_TIMEOUT", "attempt_timeout");
const RETRY_SCHEDULE: Setting = Setting::new("HOOKIT_RETRY_SCHEDULE", "retry_schedule");
const CLAIM_LEASE: Setting = Setting::new("HOOKIT_CLAIM_LEASE", "claim_lease");
const MAX_BODY_BYTES: Setting = Setting::new("HOOKIT_MAX_BODY_BYTES", "max_body_bytes");
const WORKERS: Setting = Setting::new("HOOKIT_WORKERS", "workers");
const PER_URL_CONCURRENCY: Setting =
    Setting::new("HOOKIT_PER_URL_CONCURRENCY", "per_url_concurrency");
const SLOW_HOST_SHARE: Setting = Setting::new("HOOKIT_SLOW_HOST_SHARE", "slow_host_share");
const FRESHNESS_SKEW: Setting = Setting::new("HOOKIT_FRESHNESS_SKEW", "freshness_skew");
/// Settings a config file may hold; secrets are deliberately absent.
const FILE_SETTINGS: [&Setting; 40] = [
    &DATA_DIR,
    &DATABASE_URL,
    &LISTEN,
    &ALLOW_PRIVATE,
    &EXTRA_CA_FILE,
    &TICK,
    &MAX_BATCH_ORDERS,
    &MAX_BATCH_BYTES,
    &ATTEMPT_TIMEOUT,
    &RETRY_SCHEDULE,
    &CLAIM_LEASE,
    &MAX_BODY_BYTES,
    &WORKERS,
    &PER_URL_CONCURRENCY,
    &SLOW_HOST_SHARE,
    &FRESHNESS_SKEW,
    &endpoint_health::BREAKER_FAILURES,
    &endpoint_health::BREAKER_MIN_FAILING,
    &endpoint_health::BREAKER_COOLDOWN,
    &endpoint_health::DISABLE_AFTER,
    &auth::AUTH_FAILURE_WINDOW,
    &auth::AUTH_FAILURES_PER_KEY,
    &auth::AUTH_FAILURES_PER_ADDRESS,
    &auth::TRUSTED_PROXIES,
    &console::CONSOLE,
    &console::CONSOLE_SESSION_TTL,
    &http::HEADER_TIMEOUT,
    &http::BODY_TIMEOUT,
    &http::IDLE_TIMEOUT,
    &http::MAX_CONNECTIONS,
    &http::METRICS_LISTEN,
    &database::DATABASE_POOL_SIZE,
    &database::DATABASE_STATEMENT_TIMEOUT,
    &database::DATABASE_CONNECT_TIMEOUT,
    &database::DATABASE_SCHEMA,
    &retention::RETAIN_DELIVERED,
    &retention::RETAIN_DEAD,
    &retention::RETAIN_ORDERS,
    &retention::RETAIN_IDEMPOTENCY_KEYS,
    &retention::PRUNE_INTERVAL,
];

impl ServeConfig {
    /// Layers flags/environment (already in `args`), the config file and the defaults,
    /// and validates the result.
    pub fn load(args: &ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => Some(ConfigFile::read(path)?),
            None => None,
        };
        let layers = Layers {
            file: file.as_ref(),
        };
        let defaults = Self::default();

        let data_dir = layers.get(&DATA_DIR, args.data_dir.as_deref().map(path_text), |s| {
            Ok(PathBuf::from(s))
        })?;
        let data_dir = data_dir.unwrap_or(defaults.data_dir);
        let database = layers
            .get(
                &DATABASE_URL,
                args.database_url.clone(),
                DatabaseLocation::parse,
            )?
            .unwrap_or_else(|| DatabaseLocation::default_in(&data_dir));
        let attempt_timeout = layers
            .get(&ATTEMPT_TIMEOUT, args.attempt_timeout.clone(), |s| {
                values::duration_in(s, Duration::from_millis(1), Duration::from_secs(600))
            })?
            .unwrap_or(defaults.attempt_timeout);
        let claim_lease = layers
            .get(&CLAIM_LEASE, args.claim_lease.clone(), |s| {
                values::duration_in(s, Duration::from_millis(1), Duration::from_secs(86_400))
            })?
            .unwrap_or(defaults.claim_lease);
        if claim_lease <= attempt_timeout {
            return Err(ConfigError::LeaseTooShort {
                lease: format_duration(claim_lease),
                timeout: format_duration(attempt_timeout),
            });
        }
        let count = |setting: &Setting, given: &Option<String>, max: usize, default: usize| {
            layers
                .get(setting, given.clone(), |s| values::count_in(s, 1, max))
                .map(|value| value.unwrap_or(default))
        };
        let operator_token = checked_secret(&OPERATOR_TOKEN, &args.operator_token, |_| Ok(()))?;
        let ingest_token = checked_secret(&INGEST_TOKEN, &args.ingest_token, |_| Ok(()))?;
        let master_key = checked_secret(&MASTER_KEY, &args.master_key, |key| {
            MasterKey::from_text(key)
                .map(drop)
                .map_err(|e| e.to_string())
        })?;
        if matches!(database, DatabaseLocation::Postgres(_)) {
            let missing: Vec<&'static str> = [
                (&MASTER_KEY, master_key.is_none()),
                (&OPERATOR_TOKEN, operator_token.is_none()),
                (&INGEST_TOKEN, ingest_token.is_none()),
            ]
            .into_iter()
            .filter(|(_, absent)| *absent)
            .map(|(setting, _)| setting.env)
            .collect();
            if !missing.is_empty() {
                return Err(ConfigError::SharedSecretsMissing { missing });
            }
        }
        let size = |setting: &Setting, given: &Option<String>, max: usize, default: usize| {
            layers
                .get(setting, given.clone(), |s| values::size_in(s, 1024, max))
                .map(|value| value.unwrap_or(default))
        };
        Ok(Self {
            listen: layers
                .get(&LISTEN, args.listen.clone(), values::socket_addr)?
                .unwrap_or(defaults.listen),
            operator_token,
            ingest_token,
            master_key,
            allow_private_targets: layers
                .get(
                    &ALLOW_PRIVATE,
                    args.allow_private_targets.clone(),
                    values::boolean,
                )?
                .unwrap_or(defaults.allow_private_targets),
            extra_roots: layers
                .get(
                    &EXTRA_CA_FILE,
                    args.extra_ca_file.as_deref().map(path_text),
                    |s| ExtraRoots::load(Path::new(s)),
                )?
                .unwrap_or_default(),
            tick: layers
                .get(&TICK, args.tick.clone(), |s| {
                    values::duration_in(s, Duration::from_millis(1), Duration::from_secs(60))
                })?
                .unwrap_or(defaults.tick),
            retry_schedule: layers
                .get(
                    &RETRY_SCHEDULE,
                    args.retry_schedule.clone(),
                    values::schedule,
                )?
                .unwrap_or(defaults.retry_schedule),
            max_batch_orders: count(&MAX_BATCH_ORDERS, &args.max_batch_orders, 1000, 50)?,
            max_batch_bytes: size(&MAX_BATCH_BYTES, &args.max_batch_bytes, 64 * MIB, MIB)?,
            max_body_bytes: size(&MAX_BODY_BYTES, &args.max_body_bytes, 256 * MIB, MIB)?,
            workers: count(&WORKERS, &args.workers, 65_536, defaults.workers)?,
            per_url_concurrency: count(
                &PER_URL_CONCURRENCY,
                &args.per_url_concurrency,
                65_536,
                defaults.per_url_concurrency,
            )?,
            slow_host_share: layers
                .get(
                    &SLOW_HOST_SHARE,
                    args.slow_host_share.clone(),
                    values::share,
                )?
                .unwrap_or(defaults.slow_host_share),
            freshness_skew: layers
                .get(&FRESHNESS_SKEW, args.freshness_skew.clone(), |s| {
                    values::duration_in(s, Duration::ZERO, Duration::from_secs(3600))
                })?
                .unwrap_or(defaults.freshness_skew),
            endpoint_policy: endpoint_health::load(&layers, &args.endpoint_health)?,
            auth: AuthSettings::load(&layers, &args.auth)?,
            console: ConsoleSettings::load(&layers, &args.console)?,
            http: HttpSettings::load(&layers, &args.http)?,
            database_connection: DatabaseSettings::load(&layers, &args.database_connection)?,
            retention: RetentionSettings::load(&layers, &args.retention)?,
            data_dir,
            database,
            attempt_timeout,
            claim_lease,
        })
    }

    /// A configuration for tests: the defaults, with everything in `data_dir`, an
    /// ephemeral port, private targets allowed (test receivers listen on 127.0.0.1), a
    /// 10 ms tick and a short retry schedule (50ms, 100ms, 200ms).
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            database: DatabaseLocation::default_in(&data_dir),
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_private_targets: true,
            tick: Duration::from_millis(10),
            retry_schedule: [50, 100, 200].map(Duration::from_millis).to_vec(),
            ..Self::default()
        }
    }
}

impl Default for ServeConfig {
    /// The production defaults, with no secrets configured.
    fn default() -> Self {
        let data_dir = PathBuf::from("./hookit-data");
        let retry_schedule = [
            "5s", "30s", "2m", "10m", "30m", "1h", "2h", "4h", "8h", "12h", "24h",
        ];
        Self {
            database: DatabaseLocation::default_in(&data_dir),
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            operator_token: None,
            ingest_token: None,
            master_key: None,
            allow_private_targets: false,
            extra_roots: ExtraRoots::default(),
            tick: Duration::from_millis(100),
            attempt_timeout: Duration::from_secs(10),
            claim_lease: Duration::from_secs(30),
            retry_schedule: retry_schedule
                .iter()
                .filter_map(|text| parse_duration(text).ok())
                .collect(),
            max_batch_orders: 50,
            max_batch_bytes: MIB,
            max_body_bytes: MIB,
            workers: 128,
            per_url_concurrency: 8,
            slow_host_share: 0.5,
            freshness_skew: Duration::from_secs(5),
            endpoint_policy: crate::store::EndpointPolicy::default(),
            auth: AuthSettings::default(),
            console: ConsoleSettings::default(),
            http: HttpSettings::default(),
            database_connection: DatabaseSettings::default(),
            retention: RetentionSettings::default(),
        }
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Checks a secret from flag or environment without ever putting its value in an error.
fn checked_secret(
    setting: &Setting,
    given: &Option<Secret>,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<Option<Secret>, ConfigError> {
    let Some(secret) = given else {
        return Ok(None);
    };
    let problem = if secret.expose().trim().is_empty() {
        Some("it is empty; unset it to have hookit generate one".to_owned())
    } else {
        check(secret.expose().trim()).err()
    };
    match problem {
        None => Ok(Some(Secret::new(secret.expose().trim()))),
        Some(problem) => Err(ConfigError::InvalidSecret {
            env: setting.env,
            problem,
        }),
    }
}
