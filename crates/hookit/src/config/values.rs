//! Parsers for the value syntaxes of the configuration (durations, byte sizes, counts,
//! booleans, database locations), each returning a problem description that
//! [`super::ConfigError::Invalid`] completes with the setting's names.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ConfigError;

/// One setting's public names: environment variable and config-file key (the flag is
/// the key in kebab-case).
pub(super) struct Setting {
    pub(super) env: &'static str,
    pub(super) key: &'static str,
}

impl Setting {
    pub(super) const fn new(env: &'static str, key: &'static str) -> Self {
        Self { env, key }
    }

    /// An error for a rejected `value` (already quoted, or redacted) of this setting.
    pub(super) fn invalid(&self, value: String, origin: Origin, problem: String) -> ConfigError {
        // A database URL may carry a password, which must not reach the terminal or logs.
        let value = if self.key == "database_url" {
            redact_url(&value)
        } else {
            value
        };
        ConfigError::Invalid {
            env: self.env,
            key: self.key,
            value,
            origin,
            problem,
        }
    }
}

/// Which layer a rejected value came from. clap merges flags and environment, so those
/// two cannot be told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    FlagOrEnv,
    File(PathBuf),
}

/// Where hookit keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// An embedded SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`), kept as given.
    Postgres(String),
}

impl DatabaseLocation {
    /// The default: `hookit.db` in the data directory.
    pub fn default_in(data_dir: &Path) -> Self {
        Self::Sqlite(data_dir.join("hookit.db"))
    }

    /// Parses `sqlite://PATH`, `sqlite:PATH`, a bare file path, or a PostgreSQL URL.
    pub fn parse(text: &str) -> Result<Self, String> {
        const EXPECTED: &str =
            "expected sqlite://PATH, sqlite:PATH, a file path, or postgres://USER@HOST/DB";
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Self::Postgres(text.to_owned()));
        }
        let path = if lower.starts_with("sqlite:") {
            let rest = &text["sqlite:".len()..];
            rest.strip_prefix("//").unwrap_or(rest)
        } else if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "unsupported database scheme {scheme:?}; {EXPECTED}"
            ));
        } else {
            text
        };
        if path.is_empty() {
            return Err(format!("no database file is named; {EXPECTED}"));
        }
        if path.contains('?') {
            return Err(
                "SQLite URL options (`?…`) are not supported; give only the file path".into(),
            );
        }
        if path == ":memory:" {
            return Err(
                "an in-memory database would lose every pending delivery on restart; give a file path"
                    .into(),
            );
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

impl fmt::Display for DatabaseLocation {
    /// Safe to log: a PostgreSQL password is replaced by `[redacted]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
        }
    }
}

/// Replaces the password of `scheme://user:password@host/…` (and any `password=` query
/// parameter) with `[redacted]`.
pub(super) fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                    let hidden = if userinfo.contains(':') {
                        ":[redacted]"
                    } else {
                        ""
                    };
                    format!("{scheme}://{user}{hidden}@{host}{path}")
                }
                None => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    if let Some(query) = query {
        let parts: Vec<String> = query
            .split('&')
            .map(|part| match part.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                    format!("{name}=[redacted]")
                }
                _ => part.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&parts.join("&"));
    }
    out
}

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("the value is empty; {EXPECTED_DURATION}")]
    Empty,
    #[error("{0:?} has no unit; {EXPECTED_DURATION}")]
    MissingUnit(String),
    #[error("{0:?} has an unknown unit (the units are ms, s, m, h, d); {EXPECTED_DURATION}")]
    UnknownUnit(String),
    #[error("{0:?} does not start with a whole number; {EXPECTED_DURATION}")]
    NotANumber(String),
    #[error("{0:?} is too long; expected at most a few days")]
    TooLarge(String),
}

const EXPECTED_DURATION: &str =
    "expected a whole number with a unit, such as 100ms, 5s, 2m, 1h or 1d";

/// Parses `<integer><unit>` with unit `ms`, `s`, `m`, `h` or `d` (e.g. `100ms`, `1h`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(DurationError::NotANumber(text.to_owned()));
    }
    let millis_per_unit: u64 = match unit.trim() {
        "" => return Err(DurationError::MissingUnit(text.to_owned())),
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(DurationError::UnknownUnit(text.to_owned())),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(millis_per_unit))
        .map(Duration::from_millis)
        .ok_or_else(|| DurationError::TooLarge(text.to_owned()))
}

/// Writes a duration in the largest unit that shows it exactly (`30s`, `2m`, `150ms`),
/// the syntax [`parse_duration`] reads.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    let units = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (size, unit) in units {
        if millis != 0 && millis % size == 0 {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// Parses a byte size: a whole number of bytes, optionally with a unit `B`, `KiB`,
/// `MiB`, `GiB` (powers of 1024) or `KB`, `MB`, `GB` (powers of 1000), in any case.
pub fn parse_byte_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err("expected a byte size such as 1048576, 512KiB or 1MiB (units B, KiB, MiB, GiB, KB, MB, GB)".into()),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| "expected a byte size such as 1048576, 512KiB or 1MiB".into())
}

pub(super) fn duration_in(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let value = parse_duration(text).map_err(|e| e.to_string())?;
    if value < min || value > max {
        return Err(format!(
            "expected a duration from {} to {}",
            format_duration(min),
            format_duration(max)
        ));
    }
    Ok(value)
}

pub(super) fn count_in(text: &str, min: usize, max: usize) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// A share of a whole: more than 0, at most 1 (`0.5`).
pub(super) fn share(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value > 0.0 && value <= 1.0 => Ok(value),
        _ => Err("expected a fraction greater than 0 and at most 1, such as 0.5".into()),
    }
}

pub(super) fn size_in(text: &str, min: usize, max: usize) -> Result<usize, String> {
    match parse_byte_size(text)? {
        value if (min..=max).contains(&value) => Ok(value),
        _ => Err(format!(
            "expected a size from {min} bytes (1KiB) to {} MiB",
            max >> 20
        )),
    }
}

pub(super) fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected an IP address and port, such as 127.0.0.1:8080 or [::]:8080".into())
}

pub(super) fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false (also accepted: 1/0, yes/no, on/off)".into()),
    }
}

/// A comma-separated list of retry delays, e.g. `5s,30s,2m`.
pub(super) fn schedule(text: &str) -> Result<Vec<Duration>, String> {
    const MAX_STEPS: usize = 100;
    let delays = text
        .split(',')
        .map(|step| {
            duration_in(
                step,
                Duration::from_millis(1),
                Duration::from_secs(30 * 86_400),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|problem| format!("{problem}, in a comma-separated list such as 5s,30s,2m,10m"))?;
    if delays.len() > MAX_STEPS {
        return Err(format!("at most {MAX_STEPS} retry delays are allowed"));
    }
    Ok(delays)
}

/// A config-file value as the text the flag or environment variable would hold, so that
/// one parser serves every layer. A list (for `retry_schedule`) becomes a comma list.
pub(super) fn toml_text(value: &toml::Value, list_allowed: bool) -> Result<String, String> {
    match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(number) => Ok(number.to_string()),
        toml::Value::Float(number) => Ok(number.to_string()),
        toml::Value::Boolean(flag) => Ok(flag.to_string()),
        toml::Value::Array(items) if list_allowed => items
            .iter()
            .map(|item| match item {
                toml::Value::String(text) if !text.contains(',') => Ok(text.as_str()),
                _ => {
                    Err("expected a list of duration strings, such as [\"5s\", \"30s\"]".to_owned())
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|items| items.join(",")),
        _ => Err("expected a string, a number or true/false".into()),
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FlagOrEnv => f.write_str("given on the command line or in the environment"),
            Self::File(path) => write!(f, "given in config file {}", path.display()),
        }
    }
}
