//! Tests of `hookit serve`'s configuration: layering, defaults, and errors that name
//! the setting. The process environment is never modified here; flag and environment
//! values reach `ServeConfig::load` through `ServeArgs`, exactly as clap fills it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory as _, Parser as _};
use hookit::config::{
    ConfigError, DatabaseLocation, ServeArgs, ServeConfig, format_duration, parse_byte_size,
    parse_duration,
};
use hookit::credentials::Secret;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(clap::Parser, Debug)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn write_file(dir: &Path, text: &str) -> std::io::Result<PathBuf> {
    let path = dir.join("hookit.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn load_err(args: &ServeArgs) -> Result<ConfigError, String> {
    ServeConfig::load(args)
        .err()
        .ok_or_else(|| format!("accepted {args:?}"))
}

#[test]
fn defaults_without_any_setting() -> TestResult {
    let config = ServeConfig::load(&ServeArgs::default())?;
    assert_eq!(config.data_dir, PathBuf::from("./hookit-data"));
    assert_eq!(
        config.database,
        DatabaseLocation::Sqlite("./hookit-data/hookit.db".into())
    );
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert!(!config.allow_private_targets);
    assert_eq!(config.tick, Duration::from_millis(100));
    assert_eq!(config.attempt_timeout, Duration::from_secs(10));
    assert_eq!(config.claim_lease, Duration::from_secs(30));
    let schedule: Vec<String> = config
        .retry_schedule
        .iter()
        .map(|d| format_duration(*d))
        .collect();
    assert_eq!(schedule.join(","), "5s,30s,2m,10m,30m,1h,2h,4h,8h,12h,1d");
    assert_eq!(
        (config.max_batch_orders, config.max_batch_bytes),
        (50, 1 << 20)
    );
    assert_eq!(config.max_body_bytes, 1 << 20);
    assert_eq!((config.workers, config.per_url_concurrency), (128, 8));
    assert!(config.operator_token.is_none() && config.master_key.is_none());
    Ok(())
}

#[test]
fn flag_or_env_beats_file_beats_default() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = write_file(
        dir.path(),
        "tick = \"7ms\"\nworkers = 3\ndata_dir = \"/srv/hookit\"\nallow_private_targets = true\n",
    )?;
    let args = ServeArgs {
        config: Some(file),
        tick: Some("5ms".into()),
        ..ServeArgs::default()
    };
    let config = ServeConfig::load(&args)?;
    assert_eq!(
        config.tick,
        Duration::from_millis(5),
        "flag/env beats the file"
    );
    assert_eq!(config.workers, 3, "the file beats the default");
    assert!(config.allow_private_targets);
    assert_eq!(config.per_url_concurrency, 8, "the default fills the rest");
    assert_eq!(config.data_dir, PathBuf::from("/srv/hookit"));
    assert_eq!(
        config.database,
        DatabaseLocation::Sqlite("/srv/hookit/hookit.db".into())
    );
    Ok(())
}

#[test]
fn clap_flag_names_env_names_and_bare_bool_flag() -> TestResult {
    let command = Cli::command();
    let envs: Vec<(String, String)> = command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            Some((arg.get_long()?.to_owned(), env))
        })
        .collect();
    for (long, env) in &envs {
        let expected = if long == "config" {
            "HOOKIT_CONFIG".to_owned()
        } else {
            format!("HOOKIT_{}", long.replace('-', "_").to_uppercase())
        };
        assert_eq!(env, &expected, "flag --{long}");
    }
    assert_eq!(envs.len(), 45);

    let cli = Cli::try_parse_from(["hookit", "--allow-private-targets", "--tick=5ms"])?;
    assert_eq!(cli.serve.allow_private_targets.as_deref(), Some("true"));
    let cli = Cli::try_parse_from([
        "hookit",
        "--allow-private-targets=no",
        "--operator-token",
        "t",
    ])?;
    assert!(!ServeConfig::load(&cli.serve)?.allow_private_targets);
    assert!(
        !format!("{cli:?}").contains("\"t\""),
        "tokens never reach Debug output"
    );
    Ok(())
}

#[test]
fn endpoint_health_settings_take_milliseconds_and_refuse_nonsense() -> TestResult {
    let cli = Cli::try_parse_from([
        "hookit",
        "--breaker-failures=3",
        "--breaker-min-failing=100ms",
        "--breaker-cooldown=250ms",
        "--disable-after=2s",
    ])?;
    let policy = ServeConfig::load(&cli.serve)?.endpoint_policy;
    assert_eq!(policy.failures, 3);
    assert_eq!(policy.min_failing, Duration::from_millis(100));
    assert_eq!(policy.cooldown, Duration::from_millis(250));
    assert_eq!(policy.disable_after, Duration::from_secs(2));
    let defaults = ServeConfig::load(&Cli::try_parse_from(["hookit"])?.serve)?.endpoint_policy;
    assert_eq!(
        (defaults.failures, defaults.min_failing, defaults.cooldown),
        (20, Duration::from_secs(300), Duration::from_secs(30))
    );
    assert_eq!(defaults.disable_after, Duration::from_secs(5 * 86_400));
    let cli = Cli::try_parse_from(["hookit", "--breaker-cooldown=2h"])?;
    let refused = ServeConfig::load(&cli.serve)
        .expect_err("over 30m")
        .to_string();
    assert!(refused.contains("HOOKIT_BREAKER_COOLDOWN"), "{refused}");
    Ok(())
}

#[test]
fn retry_schedule_from_file_as_list_or_comma_string() -> TestResult {
    let dir = tempfile::tempdir()?;
    for text in [
        "retry_schedule = [\"50ms\", \"100ms\"]",
        "retry_schedule = \"50ms, 100ms\"",
    ] {
        let args = ServeArgs {
            config: Some(write_file(dir.path(), text)?),
            ..ServeArgs::default()
        };
        let schedule = ServeConfig::load(&args)?.retry_schedule;
        assert_eq!(schedule, [50, 100].map(Duration::from_millis), "{text}");
    }
    Ok(())
}

#[test]
fn every_bad_value_names_its_setting() -> TestResult {
    type Set = fn(&mut ServeArgs, String);
    let cases: [(&str, &str, Set); 15] = [
        ("HOOKIT_DATABASE_URL", "mysql://x", |a, v| {
            a.database_url = Some(v)
        }),
        ("HOOKIT_LISTEN", "localhost", |a, v| a.listen = Some(v)),
        ("HOOKIT_ALLOW_PRIVATE_TARGETS", "maybe", |a, v| {
            a.allow_private_targets = Some(v)
        }),
        (
            "HOOKIT_EXTRA_CA_FILE",
            "/nonexistent/partner-ca.pem",
            |a, v| a.extra_ca_file = Some(v.into()),
        ),
        ("HOOKIT_TICK", "0ms", |a, v| a.tick = Some(v)),
        ("HOOKIT_TICK", "100", |a, v| a.tick = Some(v)),
        ("HOOKIT_MAX_BATCH_ORDERS", "1001", |a, v| {
            a.max_batch_orders = Some(v)
        }),
        ("HOOKIT_MAX_BATCH_BYTES", "1 parsec", |a, v| {
            a.max_batch_bytes = Some(v)
        }),
        ("HOOKIT_ATTEMPT_TIMEOUT", "0s", |a, v| {
            a.attempt_timeout = Some(v)
        }),
        ("HOOKIT_RETRY_SCHEDULE", "", |a, v| {
            a.retry_schedule = Some(v)
        }),
        ("HOOKIT_RETRY_SCHEDULE", "5s,,2m", |a, v| {
            a.retry_schedule = Some(v)
        }),
        ("HOOKIT_CLAIM_LEASE", "soon", |a, v| a.claim_lease = Some(v)),
        ("HOOKIT_MAX_BODY_BYTES", "-1", |a, v| {
            a.max_body_bytes = Some(v)
        }),
        ("HOOKIT_WORKERS", "0", |a, v| a.workers = Some(v)),
        ("HOOKIT_PER_URL_CONCURRENCY", "eight", |a, v| {
            a.per_url_concurrency = Some(v)
        }),
    ];
    let dir = tempfile::tempdir()?;
    for (env, bad, set) in cases {
        let key = env.trim_start_matches("HOOKIT_").to_lowercase();
        let mut args = ServeArgs::default();
        set(&mut args, bad.to_owned());
        let message = load_err(&args)?.to_string();
        for needle in [
            env,
            &format!("--{}", key.replace('_', "-")),
            &format!("`{key}`"),
            &format!("{bad:?}"),
        ] {
            assert!(message.contains(needle), "{needle} missing from: {message}");
        }
        assert!(message.contains("expected"), "{message}");

        let file = write_file(dir.path(), &format!("{key} = {bad:?}"))?;
        let message = load_err(&ServeArgs {
            config: Some(file.clone()),
            ..ServeArgs::default()
        })?
        .to_string();
        assert!(
            message.contains(env) && message.contains(&file.display().to_string()),
            "{message}"
        );
    }
    Ok(())
}

#[test]
fn file_errors_are_specific() -> TestResult {
    let dir = tempfile::tempdir()?;
    let with_file = |text: &str| -> Result<String, Box<dyn std::error::Error>> {
        let args = ServeArgs {
            config: Some(write_file(dir.path(), text)?),
            ..ServeArgs::default()
        };
        Ok(load_err(&args)?.to_string())
    };
    let message = with_file("master_key = \"00\"")?;
    assert!(
        message.contains("HOOKIT_MASTER_KEY") && message.contains("secrets don't belong"),
        "{message}"
    );
    let message = with_file("operator_token = \"hkop_x\"")?;
    assert!(
        message.contains("HOOKIT_OPERATOR_TOKEN") && !message.contains("hkop_x"),
        "{message}"
    );
    let message = with_file("tik = \"5ms\"")?;
    assert!(
        message.contains("unknown key `tik`") && message.contains("tick"),
        "{message}"
    );
    let message = with_file("tick = [\"5ms\"]")?;
    assert!(message.contains("HOOKIT_TICK"), "{message}");
    let message = with_file("tick = ")?;
    assert!(message.contains("not valid TOML"), "{message}");
    let missing = ServeArgs {
        config: Some(dir.path().join("absent.toml")),
        ..ServeArgs::default()
    };
    assert!(matches!(load_err(&missing)?, ConfigError::ReadFile { .. }));
    Ok(())
}

#[test]
fn claim_lease_must_exceed_attempt_timeout() -> TestResult {
    let args = ServeArgs {
        attempt_timeout: Some("30s".into()),
        claim_lease: Some("30s".into()),
        ..ServeArgs::default()
    };
    let message = load_err(&args)?.to_string();
    assert!(
        message.contains("HOOKIT_CLAIM_LEASE (30s)")
            && message.contains("HOOKIT_ATTEMPT_TIMEOUT (30s)"),
        "{message}"
    );
    let args = ServeArgs {
        claim_lease: Some("11s".into()),
        ..ServeArgs::default()
    };
    assert_eq!(
        ServeConfig::load(&args)?.claim_lease,
        Duration::from_secs(11)
    );
    Ok(())
}

#[test]
fn secrets_are_checked_without_being_shown() -> TestResult {
    let args = ServeArgs {
        master_key: Some(Secret::new("not-a-key-at-all")),
        ..ServeArgs::default()
    };
    let message = load_err(&args)?.to_string();
    assert!(
        message.contains("HOOKIT_MASTER_KEY") && message.contains("64 hex"),
        "{message}"
    );
    assert!(!message.contains("not-a-key-at-all"), "{message}");
    let args = ServeArgs {
        master_key: Some(Secret::new("ab".repeat(32))),
        operator_token: Some(Secret::new(" hkop_x \n")),
        ..ServeArgs::default()
    };
    let config = ServeConfig::load(&args)?;
    assert_eq!(
        config.operator_token.as_ref().map(Secret::expose),
        Some("hkop_x")
    );
    assert!(!format!("{config:?}").contains("abab"));
    Ok(())
}

#[test]
fn database_locations() -> TestResult {
    let sqlite = |path: &str| DatabaseLocation::Sqlite(PathBuf::from(path));
    for (text, expected) in [
        ("sqlite://hookit.db", sqlite("hookit.db")),
        ("sqlite:///var/lib/hookit.db", sqlite("/var/lib/hookit.db")),
        ("sqlite:data/h.db", sqlite("data/h.db")),
        ("/tmp/h.db", sqlite("/tmp/h.db")),
        (
            "postgres://u:p@db/hookit",
            DatabaseLocation::Postgres("postgres://u:p@db/hookit".into()),
        ),
        (
            "postgresql://db/hookit",
            DatabaseLocation::Postgres("postgresql://db/hookit".into()),
        ),
    ] {
        assert_eq!(DatabaseLocation::parse(text)?, expected, "{text}");
    }
    for bad in [
        "",
        "sqlite://",
        "mysql://db",
        "sqlite::memory:",
        "sqlite://h.db?mode=rwc",
    ] {
        assert!(DatabaseLocation::parse(bad).is_err(), "{bad}");
    }
    let location = DatabaseLocation::parse("postgres://hookit:hunter2@db:5432/hookit?password=x")?;
    for shown in [format!("{location:?}"), location.to_string()] {
        assert!(
            !shown.contains("hunter2") && !shown.contains("=x"),
            "{shown}"
        );
        assert!(
            shown.contains("hookit:[redacted]@db:5432/hookit"),
            "{shown}"
        );
    }
    let args = ServeArgs {
        database_url: Some("mysql://u:hunter2@db".into()),
        ..ServeArgs::default()
    };
    assert!(!load_err(&args)?.to_string().contains("hunter2"));
    Ok(())
}

#[test]
fn duration_table() {
    let ms = Duration::from_millis;
    for (text, expected) in [
        ("100ms", Some(ms(100))),
        ("5s", Some(ms(5_000))),
        ("2m", Some(ms(120_000))),
        ("1h", Some(ms(3_600_000))),
        ("1d", Some(ms(86_400_000))),
        (" 30s ", Some(ms(30_000))),
        ("0ms", Some(ms(0))),
        ("10", None),
        ("s", None),
        ("1.5s", None),
        ("-1s", None),
        ("5 sec", None),
        ("5S", None),
        ("", None),
        ("99999999999999999999d", None),
    ] {
        assert_eq!(parse_duration(text).ok(), expected, "{text:?}");
    }
    for text in ["150ms", "30s", "2m", "1h", "2d"] {
        assert_eq!(
            parse_duration(text).map(format_duration).as_deref(),
            Ok(text)
        );
    }
}

#[test]
fn byte_size_table() {
    for (text, expected) in [
        ("1048576", Some(1 << 20)),
        ("1MiB", Some(1 << 20)),
        ("512 KiB", Some(512 << 10)),
        ("1mb", Some(1_000_000)),
        ("2KB", Some(2_000)),
        ("10B", Some(10)),
        ("1.5MiB", None),
        ("MiB", None),
        ("1 TiB", None),
    ] {
        assert_eq!(parse_byte_size(text).ok(), expected, "{text:?}");
    }
}

#[test]
fn for_tests_is_local_and_fast() {
    let config = ServeConfig::for_tests("/tmp/x");
    assert!(config.allow_private_targets);
    assert_eq!(config.listen.port(), 0);
    assert_eq!(
        config.database,
        DatabaseLocation::Sqlite("/tmp/x/hookit.db".into())
    );
    assert!(config.claim_lease > config.attempt_timeout);
}

#[test]
fn database_connection_settings_default_parse_and_name_themselves() -> TestResult {
    let defaults = ServeConfig::load(&ServeArgs::default())?.database_connection;
    assert_eq!(
        (
            defaults.pool_size,
            defaults.statement_timeout,
            defaults.connect_timeout
        ),
        (16, Duration::from_secs(5), Duration::from_secs(3))
    );
    let cli = Cli::try_parse_from([
        "hookit",
        "--database-pool-size=4",
        "--database-statement-timeout=250ms",
        "--database-connect-timeout",
        "1500ms",
    ])?;
    let given = ServeConfig::load(&cli.serve)?.database_connection;
    assert_eq!(
        (
            given.pool_size,
            given.statement_timeout,
            given.connect_timeout
        ),
        (4, Duration::from_millis(250), Duration::from_millis(1500))
    );
    let dir = tempfile::tempdir()?;
    let file = write_file(dir.path(), "database_pool_size = 7")?;
    let from_file = ServeConfig::load(&ServeArgs {
        config: Some(file),
        ..ServeArgs::default()
    })?;
    assert_eq!(from_file.database_connection.pool_size, 7);
    let cli = Cli::try_parse_from(["hookit", "--database-schema=hookit_eu"])?;
    assert_eq!(
        ServeConfig::load(&cli.serve)?
            .database_connection
            .schema
            .as_deref(),
        Some("hookit_eu")
    );

    for (flag, bad) in [
        ("--database-pool-size", "0"),
        ("--database-pool-size", "1001"),
        ("--database-statement-timeout", "0ms"),
        ("--database-statement-timeout", "forever"),
        ("--database-connect-timeout", "3"),
        ("--database-schema", "Hookit"),
        ("--database-schema", "a-b"),
    ] {
        let cli = Cli::try_parse_from(["hookit", &format!("{flag}={bad}")])?;
        let message = load_err(&cli.serve)?.to_string();
        let key = flag.trim_start_matches("--").replace('-', "_");
        let env = format!("HOOKIT_{}", key.to_uppercase());
        for needle in [env.as_str(), flag, &format!("`{key}`"), &format!("{bad:?}")] {
            assert!(message.contains(needle), "{needle} missing from: {message}");
        }
    }
    Ok(())
}

#[test]
fn postgres_refuses_to_start_without_the_shared_secrets() -> TestResult {
    let postgres = || ServeArgs {
        database_url: Some("postgres://hookit:hunter2@127.0.0.1/hookit".into()),
        ..ServeArgs::default()
    };
    let message = load_err(&postgres())?.to_string();
    for env in [
        "HOOKIT_MASTER_KEY",
        "HOOKIT_OPERATOR_TOKEN",
        "HOOKIT_INGEST_TOKEN",
    ] {
        assert!(message.contains(env), "{env} missing from: {message}");
    }
    assert!(!message.contains("hunter2"), "{message}");

    let partly = ServeArgs {
        master_key: Some(Secret::new("ab".repeat(32))),
        ingest_token: Some(Secret::new("hkin_x")),
        ..postgres()
    };
    let message = load_err(&partly)?.to_string();
    assert!(message.contains("HOOKIT_OPERATOR_TOKEN"), "{message}");
    assert!(
        !message.contains("HOOKIT_MASTER_KEY") && !message.contains("HOOKIT_INGEST_TOKEN"),
        "only the missing ones are named: {message}"
    );

    let complete = ServeArgs {
        operator_token: Some(Secret::new("hkop_x")),
        ..partly
    };
    let config = ServeConfig::load(&complete)?;
    assert!(matches!(config.database, DatabaseLocation::Postgres(_)));
    // SQLite keeps creating its own secrets in the data directory.
    assert!(
        ServeConfig::load(&ServeArgs::default())?
            .master_key
            .is_none()
    );
    Ok(())
}

#[test]
fn retention_defaults_take_days_and_milliseconds_and_refuse_zero() -> TestResult {
    let config = ServeConfig::load(&ServeArgs::default())?;
    let day = Duration::from_secs(86_400);
    let policy = config.retention.policy;
    assert_eq!(
        (
            policy.delivered,
            policy.dead,
            policy.orders,
            policy.idempotency_keys
        ),
        (30 * day, 90 * day, 90 * day, day)
    );
    assert_eq!(config.retention.prune_interval, Duration::from_secs(60));

    let mut args = ServeArgs::default();
    args.retention.retain_delivered = Some("7d".into());
    args.retention.retain_orders = Some("250ms".into());
    args.retention.prune_interval = Some("20ms".into());
    let config = ServeConfig::load(&args)?;
    assert_eq!(config.retention.policy.delivered, 7 * day);
    assert_eq!(config.retention.policy.orders, Duration::from_millis(250));
    assert_eq!(config.retention.prune_interval, Duration::from_millis(20));

    let mut args = ServeArgs::default();
    args.retention.retain_dead = Some("0ms".into());
    let message = load_err(&args)?.to_string();
    assert!(
        message.contains("HOOKIT_RETAIN_DEAD") && message.contains("from 1ms"),
        "{message}"
    );
    Ok(())
}
