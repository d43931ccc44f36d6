//! The server under test in a process of its own: `hookit serve` (this same binary)
//! started with the scenario's configuration as `HOOKIT_*` settings, so that its CPU
//! time (from `/proc/<pid>/stat`) is hookit's alone and not the load generator's or the
//! receiver's.

use super::BenchError;
use crate::config::{DatabaseLocation, ServeConfig};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;
/// The most retry delays `HOOKIT_RETRY_SCHEDULE` takes.
const MAX_RETRY_STEPS: usize = 100;
/// How long a stopping server may take to drain before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// A running `hookit serve` child; killed when dropped.
pub struct ChildServer {
    child: Child,
    /// `host:port` it listens on.
    pub address: String,
    grace: Duration,
}

fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// The settings that make `hookit serve` run as `config` says.
fn settings(config: &ServeConfig) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("HOOKIT_DATA_DIR", config.data_dir.display().to_string()),
        ("HOOKIT_LISTEN", config.listen.to_string()),
        (
            "HOOKIT_ALLOW_PRIVATE_TARGETS",
            config.allow_private_targets.to_string(),
        ),
        ("HOOKIT_TICK", millis(config.tick)),
        ("HOOKIT_ATTEMPT_TIMEOUT", millis(config.attempt_timeout)),
        ("HOOKIT_CLAIM_LEASE", millis(config.claim_lease)),
        (
            "HOOKIT_RETRY_SCHEDULE",
            // A setting holds at most 100 delays; the backlog scenario's longer schedule
            // (in-process) is cut there for the processes `--processes` adds, whose
            // deliveries then die after 100 attempts — which the bench reports as lost.
            config
                .retry_schedule
                .iter()
                .take(MAX_RETRY_STEPS)
                .map(|d| millis(*d))
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "HOOKIT_MAX_BATCH_ORDERS",
            config.max_batch_orders.to_string(),
        ),
        ("HOOKIT_MAX_BATCH_BYTES", config.max_batch_bytes.to_string()),
        ("HOOKIT_MAX_BODY_BYTES", config.max_body_bytes.to_string()),
        ("HOOKIT_WORKERS", config.workers.to_string()),
        (
            "HOOKIT_PER_URL_CONCURRENCY",
            config.per_url_concurrency.to_string(),
        ),
        (
            "HOOKIT_CONSOLE",
            if config.console.enabled { "on" } else { "off" }.to_owned(),
        ),
    ];
    let tokens = [
        ("HOOKIT_OPERATOR_TOKEN", &config.operator_token),
        ("HOOKIT_INGEST_TOKEN", &config.ingest_token),
        ("HOOKIT_METRICS_TOKEN", &config.http.metrics_token),
        ("HOOKIT_MASTER_KEY", &config.master_key),
    ];
    for (name, token) in tokens {
        if let Some(token) = token {
            env.push((name, token.expose().to_owned()));
        }
    }
    let database = match &config.database {
        DatabaseLocation::Sqlite(path) => path.display().to_string(),
        DatabaseLocation::Postgres(url) => url.clone(),
    };
    env.push(("HOOKIT_DATABASE_URL", database));
    if let Some(schema) = &config.database_connection.schema {
        env.push(("HOOKIT_DATABASE_SCHEMA", schema.clone()));
    }
    env
}

impl ChildServer {
    /// Starts `hookit serve` and waits until it says where it listens.
    /// With a `wrapper` (a profiler), runs `wrapper… hookit serve` and allows it more
    /// time to start and stop.
    pub async fn start(
        config: &ServeConfig,
        wrapper: &[String],
    ) -> Result<ChildServer, BenchError> {
        let exe = std::env::current_exe()
            .map_err(|err| format!("cannot find the hookit binary to start: {err}"))?;
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        let patience = if wrapper.is_empty() { 1 } else { 10 };
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .envs(settings(config))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|err| format!("cannot start hookit serve: {err}"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or("hookit serve started without its stderr")?;
        let (found, address) = tokio::sync::oneshot::channel();
        // Reads the log to its end (so the pipe never fills), passing on the address.
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let address: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                    if let Some(found) = found.take() {
                        let _ = found.send(address);
                    }
                } else if line.contains("ERROR") || line.starts_with("error") {
                    eprintln!("bench: server: {line}");
                }
            }
        });
        let mut server = ChildServer {
            child,
            address: String::new(),
            grace: STOP_GRACE * patience,
        };
        match tokio::time::timeout(Duration::from_secs(30) * patience, address).await {
            Ok(Ok(address)) => server.address = address,
            _ => {
                let status = server.child.try_wait().ok().flatten();
                return Err(format!(
                    "hookit serve did not say where it listens in time (exit: {status:?})"
                )
                .into());
            }
        }
        Ok(server)
    }

    /// CPU seconds (user + system) the server has used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        process_cpu_seconds(self.child.id())
    }

    /// The process id, for `/proc/<pid>/…`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for the drain (kills it after [`STOP_GRACE`]).
    pub async fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) process `pid` has used so far.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |n: usize| fields.get(n)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / TICKS_PER_S)
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_switch_reaches_the_serve_child() {
        let mut config = ServeConfig::default();
        let console = |config: &ServeConfig| {
            settings(config)
                .into_iter()
                .find(|(name, _)| *name == "HOOKIT_CONSOLE")
                .map(|(_, value)| value)
        };
        assert_eq!(console(&config).as_deref(), Some("on"));
        config.console.enabled = false;
        assert_eq!(console(&config).as_deref(), Some("off"));
    }
}
