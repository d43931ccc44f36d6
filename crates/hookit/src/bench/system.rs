//! The system under test: `hookit serve` started on `127.0.0.1:0` with a fresh data
//! directory — in-process, or in a process of its own ([`super::child`]) when its CPU
//! time is measured — and the two HTTP clients klikit would use against it: the
//! operator API (partners, mappings) and the ingest API (single and batch pushes).

use super::BenchError;
use super::child::ChildServer;
pub use super::data_dir::DataDir;
use crate::config::{DatabaseLocation, ServeConfig};
use crate::credentials::Secret;
use crate::serve::Server;
use crate::serve::scratch::ScratchSchema;
use crate::store::IngestOutcome;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

const OPERATOR_TOKEN: &str = "hkop_bench_operator_token";
/// Opens `/metrics` on the bench server's API port (for its store-commit count).
const METRICS_TOKEN: &str = "hkmt_bench_metrics_token";
const INGEST_TOKEN: &str = "hkin_bench_ingest_token";
/// Attempts of one ingest push before the bench gives up (transport errors and 5xx).
const INGEST_TRIES: u32 = 5;

/// Where the bench keeps its data and how it starts servers; shared by all scenarios.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Parent of the per-scenario data directories.
    pub parent: PathBuf,
    /// `--database-url`, or `None` for SQLite in each fresh data directory.
    pub database_url: Option<String>,
    pub keep_data: bool,
    /// A command (and its arguments) to start a server process under, e.g. a profiler.
    pub server_wrapper: Vec<String>,
    /// How many `hookit serve` processes share the database (PostgreSQL only): ingest
    /// is spread over all of them, and all of them deliver.
    pub processes: usize,
}

impl Placement {
    /// The backend's name for the report (`sqlite`, `postgres`).
    pub fn backend_name(&self) -> Result<&'static str, BenchError> {
        Ok(match self.database(Path::new("."))? {
            DatabaseLocation::Sqlite(_) => "sqlite",
            DatabaseLocation::Postgres(_) => "postgres",
        })
    }

    fn database(&self, data_dir: &Path) -> Result<DatabaseLocation, BenchError> {
        match &self.database_url {
            None => Ok(DatabaseLocation::default_in(data_dir)),
            Some(url) => DatabaseLocation::parse(url)
                .map_err(|problem| format!("--database-url: {problem}").into()),
        }
    }
}

/// Where the server runs.
enum Running {
    InProcess(Server),
    Child(ChildServer),
}

/// A running server and the clients that talk to it.
pub struct System {
    server: Running,
    /// With `--processes N`, the other N − 1 servers on the same database.
    others: Vec<ChildServer>,
    /// `http://host:port` of every server, the first one's first.
    bases: Vec<String>,
    /// Round-robin over `bases` for ingest requests.
    next_base: AtomicUsize,
    http: reqwest::Client,
    _data: DataDir,
    /// On PostgreSQL, the scenario's own schema, dropped when the server stops.
    scratch: Option<ScratchSchema>,
    /// On PostgreSQL, the database's URL (to read its CPU time).
    database_url: Option<String>,
    /// On SQLite, the database file.
    sqlite_path: Option<PathBuf>,
}

impl System {
    /// Starts a server on a fresh data directory; `tune` adjusts the configuration
    /// (tick, batch size, retry schedule) from the production defaults.
    /// With `own_process`, the server is a child process (see [`super::child`]).
    pub async fn start(
        placement: &Placement,
        scenario: &str,
        own_process: bool,
        tune: impl FnOnce(&mut ServeConfig),
    ) -> Result<System, BenchError> {
        let data = DataDir::create(&placement.parent, scenario, placement.keep_data)?;
        let mut config = ServeConfig {
            database: placement.database(&data.path)?,
            data_dir: data.path.clone(),
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            operator_token: Some(Secret::new(OPERATOR_TOKEN)),
            ingest_token: Some(Secret::new(INGEST_TOKEN)),
            allow_private_targets: true,
            ..ServeConfig::default()
        };
        config.http.metrics_token = Some(Secret::new(METRICS_TOKEN));
        let scratch = match &config.database {
            DatabaseLocation::Postgres(url) => {
                let scratch = ScratchSchema::prepare(url, "bench", scenario).await?;
                config.database_connection.schema = Some(scratch.name.clone());
                // A served PostgreSQL database needs its master key given, not made.
                config.master_key = Some(crate::credentials::MasterKey::generate().to_text());
                Some(scratch)
            }
            DatabaseLocation::Sqlite(_) => None,
        };
        tune(&mut config);
        let sqlite_path = match &config.database {
            DatabaseLocation::Sqlite(path) => Some(path.clone()),
            DatabaseLocation::Postgres(_) => None,
        };
        let processes = placement.processes.max(1);
        let postgres = scratch.is_some();
        if processes > 1 && scratch.is_none() {
            return Err(
                "--processes above 1 needs a shared database: --database-url postgres://…".into(),
            );
        }
        let others_config = (processes > 1).then(|| config.clone());
        let (server, address) = if own_process {
            let child = ChildServer::start(&config, &placement.server_wrapper).await?;
            let address = child.address.clone();
            (Running::Child(child), address)
        } else {
            let server = Server::start(config)
                .await
                .map_err(|err| format!("cannot start hookit in-process: {err}"))?;
            let address = server.address.to_string();
            (Running::InProcess(server), address)
        };
        let mut bases = vec![format!("http://{address}")];
        let mut others = Vec::new();
        for config in std::iter::repeat_n(others_config, processes - 1).flatten() {
            let child = ChildServer::start(&config, &placement.server_wrapper).await?;
            bases.push(format!("http://{}", child.address));
            others.push(child);
        }
        Ok(System {
            bases,
            others,
            next_base: AtomicUsize::new(0),
            server,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .map_err(|err| format!("cannot build the HTTP client: {err}"))?,
            _data: data,
            scratch,
            database_url: placement.database_url.clone().filter(|_| postgres),
            sqlite_path,
        })
    }

    /// Bytes the database holds on disk: on SQLite its file with the write-ahead log
    /// and shared-memory index; on PostgreSQL the scenario schema's tables with their
    /// indexes and TOAST.
    pub async fn database_bytes(&self) -> Result<DatabaseSize, BenchError> {
        if let Some(path) = &self.sqlite_path {
            return Ok(DatabaseSize {
                bytes: sqlite_bytes(path),
                relations: Vec::new(),
            });
        }
        let (Some(url), Some(scratch)) = (&self.database_url, &self.scratch) else {
            return Err("the database's size is unknown".into());
        };
        use sqlx::ConnectOptions as _;
        use std::str::FromStr as _;
        let failed = |err: sqlx::Error| format!("cannot read the database's size: {err}");
        let mut conn = sqlx::postgres::PgConnectOptions::from_str(url)
            .map_err(failed)?
            .connect()
            .await
            .map_err(failed)?;
        // Tables with their TOAST, and each index on its own.
        let relations: Vec<(String, i64)> = sqlx::query_as(
            "SELECT c.relname::text,
                    CASE WHEN c.relkind = 'r' THEN pg_table_size(c.oid)
                         ELSE pg_relation_size(c.oid) END
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'i')
             ORDER BY 2 DESC, 1",
        )
        .bind(&scratch.name)
        .fetch_all(&mut conn)
        .await
        .map_err(failed)?;
        let relations: Vec<(String, u64)> = relations
            .into_iter()
            .map(|(name, bytes)| (name, bytes.max(0) as u64))
            .collect();
        Ok(DatabaseSize {
            bytes: relations.iter().map(|(_, bytes)| bytes).sum(),
            relations,
        })
    }

    /// Stops the server (drains in-flight attempts); the data directory goes with it.
    pub async fn stop(self) {
        for other in self.others {
            other.stop().await;
        }
        match self.server {
            Running::InProcess(server) => server.stop().await,
            Running::Child(child) => child.stop().await,
        }
        if let Some(scratch) = self.scratch {
            if let Err(err) = scratch.drop().await {
                eprintln!("bench: {err}");
            }
        }
    }

    /// CPU seconds the servers' own processes have used (all of them), when they run
    /// in processes of their own.
    pub fn server_cpu_seconds(&self) -> Option<f64> {
        let first = match &self.server {
            Running::InProcess(_) => return None,
            Running::Child(child) => child.cpu_seconds()?,
        };
        self.others
            .iter()
            .try_fold(first, |sum, other| Some(sum + other.cpu_seconds()?))
    }

    /// The database's CPU time on hookit's connections so far (PostgreSQL only).
    pub async fn database_cpu(&self) -> Option<super::database_cpu::Sample> {
        super::database_cpu::sample(self.database_url.as_deref()?).await
    }

    /// How many `hookit serve` processes share the work.
    pub fn processes(&self) -> usize {
        self.bases.len()
    }

    /// The server the next ingest request goes to (round-robin).
    fn ingest_base(&self) -> &str {
        let next = self.next_base.fetch_add(1, Relaxed);
        &self.bases[next % self.bases.len()]
    }

    /// The first server, where partners and mappings are made.
    fn base(&self) -> &str {
        &self.bases[0]
    }

    /// The servers' `hookit_store_commits_total` (summed), if they expose one.
    pub async fn store_commits(&self) -> Option<u64> {
        let mut sum = 0;
        for base in &self.bases {
            sum += self.store_commits_of(base).await?;
        }
        Some(sum)
    }

    async fn store_commits_of(&self, base: &str) -> Option<u64> {
        let text = self.metrics_of(base).await?;
        text.lines()
            .find_map(|line| line.strip_prefix("hookit_store_commits_total "))
            .and_then(|value| value.trim().parse().ok())
    }

    /// The first server's `/metrics` exposition, if it answers.
    pub async fn metrics(&self) -> Option<String> {
        self.metrics_of(self.base()).await
    }

    async fn metrics_of(&self, base: &str) -> Option<String> {
        self.http
            .get(format!("{base}/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()
    }

    /// Pushes one `{"event", "order"}` body to `POST /v1/ingest/orders` on `http` (one
    /// keep-alive connection of the caller's) under an Idempotency-Key, retrying as
    /// [`Self::ingest_batch`] does. Returns the answer's `data` and the retries taken.
    pub async fn ingest_one(
        &self,
        http: &reqwest::Client,
        body: &str,
        idempotency_key: &str,
    ) -> Result<(serde_json::Value, u32), BenchError> {
        let mut last_problem = String::new();
        for attempt in 0..INGEST_TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            let sent = http
                .post(format!("{}/v1/ingest/orders", self.ingest_base()))
                .bearer_auth(INGEST_TOKEN)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("idempotency-key", idempotency_key)
                .body(body.to_owned())
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(err) => {
                    last_problem = err.to_string();
                    continue;
                }
            };
            let status = response.status().as_u16();
            let bytes = match response.bytes().await {
                Ok(bytes) => bytes,
                Err(err) => {
                    last_problem = err.to_string();
                    continue;
                }
            };
            let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into())
            });
            match status {
                200..=299 => return Ok((answer["data"].clone(), attempt)),
                500.. => last_problem = format!("{status}: {answer}"),
                _ => {
                    return Err(
                        format!("ingest refused a bench push with {status}: {answer}").into(),
                    );
                }
            }
        }
        Err(format!("ingest failed {INGEST_TRIES} times; last: {last_problem}").into())
    }

    async fn send(
        &self,
        base: &str,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: String,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, serde_json::Value), reqwest::Error> {
        let mut request = self
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
        Ok((status, value))
    }

    async fn operator(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, BenchError> {
        let (status, answer) = self
            .send(
                self.base(),
                method,
                &format!("/v1/operator{path}"),
                OPERATOR_TOKEN,
                body.to_string(),
                None,
            )
            .await
            .map_err(|err| format!("operator API {path}: {err}"))?;
        if !(200..300).contains(&status) {
            return Err(format!("operator API {path} answered {status}: {answer}").into());
        }
        Ok(answer)
    }

    /// Creates a partner; returns (partner id, webhook secret).
    pub async fn create_partner(&self, name: &str) -> Result<(String, String), BenchError> {
        let answer = self
            .operator(
                reqwest::Method::POST,
                "/partners",
                serde_json::json!({ "name": name }),
            )
            .await?;
        let field = |name: &str| {
            answer["data"][name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("partner creation answered without `{name}`: {answer}"))
        };
        Ok((field("id")?, field("webhook_secret_key")?))
    }

    /// Maps (brand, branch or every branch, event type) of a partner to `url`.
    pub async fn map(
        &self,
        partner_id: &str,
        brand_id: i64,
        branch_id: Option<i64>,
        event_type: klikit_webhook::EventType,
        url: &str,
    ) -> Result<(), BenchError> {
        let mut body = serde_json::json!({
            "brand_id": brand_id,
            "event_type": event_type.as_str(),
            "url": url,
        });
        if let Some(branch) = branch_id {
            body["branch_id"] = serde_json::json!(branch);
        }
        self.operator(
            reqwest::Method::PUT,
            &format!("/partners/{partner_id}/mappings"),
            body,
        )
        .await
        .map(drop)
    }

    /// Pushes one `{"items": [...]}` body to the batch ingest endpoint under an
    /// Idempotency-Key, retrying transport errors and 5xx as klikit would. Returns the
    /// outcome and how many retries it took.
    pub async fn ingest_batch(
        &self,
        body: String,
        idempotency_key: &str,
    ) -> Result<(IngestOutcome, u32), BenchError> {
        let mut last_problem = String::new();
        for attempt in 0..INGEST_TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            let sent = self
                .send(
                    self.ingest_base(),
                    reqwest::Method::POST,
                    "/v1/ingest/orders/batch",
                    INGEST_TOKEN,
                    body.clone(),
                    Some(idempotency_key),
                )
                .await;
            match sent {
                Ok((status, answer)) if (200..300).contains(&status) => {
                    let outcome =
                        serde_json::from_value(answer["data"].clone()).map_err(|err| {
                            format!(
                                "ingest answered {status} with an unexpected body ({err}): {answer}"
                            )
                        })?;
                    return Ok((outcome, attempt));
                }
                Ok((status, answer)) if status >= 500 => {
                    last_problem = format!("{status}: {answer}");
                }
                Ok((status, answer)) => {
                    return Err(
                        format!("ingest refused a bench push with {status}: {answer}").into(),
                    );
                }
                Err(err) => last_problem = err.to_string(),
            }
        }
        Err(format!("ingest failed {INGEST_TRIES} times; last: {last_problem}").into())
    }
}

/// A database's size on disk, with (PostgreSQL) each table's and index's share,
/// largest first.
pub struct DatabaseSize {
    pub bytes: u64,
    pub relations: Vec<(String, u64)>,
}

/// The SQLite file with its write-ahead log and shared-memory index.
pub fn sqlite_bytes(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(PathBuf::from(name)).ok()
        })
        .map(|meta| meta.len())
        .sum()
}
