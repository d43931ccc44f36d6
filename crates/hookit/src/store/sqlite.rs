//! The embedded backend: one SQLite file in WAL mode.
//!
//! All writes go through one connection (SQLite has one writer at a time anyway), owned
//! by a thread that commits concurrent writes together ([`group_commit`]): each write
//! runs in its own savepoint, a group shares one `BEGIN IMMEDIATE` transaction and one
//! fsync, and every write is answered only once its commit is done. Reads use a small
//! pool of read-only connections, which WAL lets run beside the writer, on tokio's
//! blocking pool so the async runtime never waits on disk.
//!
//! Durability is chosen per transaction. What the API acknowledges (ingest, partner
//! changes, operator actions) commits with `synchronous = FULL`, so it survives a crash
//! of the machine, not only of the process. The dispatcher's own bookkeeping (batching,
//! leases, attempt outcomes) commits with `NORMAL`: the WAL is then synced by the next
//! durable commit or checkpoint, and losing one of those writes to a power cut only
//! means a delivery is attempted again under the same event id — which at-least-once
//! delivery allows. Forming deliveries stays `FULL`: a lost batch would be formed again
//! under new event ids after its first form may already have been sent. Since the WAL
//! is written in order, a durable commit also makes every earlier commit durable. A
//! group commits with the strongest durability of its writes.

mod deliveries;
mod dispatch;
mod endpoints;
mod group_commit;
mod ingest;
mod migrate;
mod operators;
mod partner_api;
mod partner_views;
mod partners;
mod retention;
mod retry_now;

pub use retention::{VacuumReport, vacuum_file};

use super::*;
use group_commit::{GroupWriter, Lane};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const READERS: usize = 4;

/// The SQLite store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// Declared before the writer so they close first: the last connection to close
    /// checkpoints the WAL and removes it, and only the writer can do that.
    readers: Vec<Mutex<Connection>>,
    /// The writing connection's thread; dropping it closes the connection.
    writer: GroupWriter,
}

/// How hard a commit must hold; the stronger is the greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Durability {
    /// Survives a process crash: for the dispatcher's own bookkeeping.
    Bookkeeping,
    /// Survives a machine crash: for what the API acknowledges.
    Acknowledged,
}

impl Durability {
    /// The `PRAGMA synchronous` level that gives it.
    fn synchronous(self) -> &'static str {
        match self {
            Durability::Acknowledged => "FULL",
            Durability::Bookkeeping => "NORMAL",
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Backend(err.to_string())
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| {
                StoreError::Backend(format!("cannot create {}: {err}", parent.display()))
            })?;
        }
        let mut writer = Connection::open(path)
            .map_err(|err| StoreError::Backend(format!("cannot open {}: {err}", path.display())))?;
        // Only a database without tables takes this (before WAL mode is set); an older
        // file keeps its mode until `hookit db vacuum` rewrites it.
        writer.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        configure(&writer)?;
        migrate::run(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&conn)?;
                Ok(Mutex::new(conn))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: GroupWriter::start(writer)?,
                readers,
            }),
        })
    }

    /// Commits made by the writer so far (each holds one or more writes).
    pub fn commits(&self) -> u64 {
        self.inner.writer.commits()
    }

    /// Runs `work` as one write of the next group commit, durable against a machine
    /// crash: what the APIs acknowledge.
    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.inner
            .writer
            .write(Lane::Requests, Durability::Acknowledged, 1, work)
            .await
    }

    /// Like [`Self::write`] for a write of `weight` order changes.
    async fn write_weighted<T, F>(&self, weight: usize, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.inner
            .writer
            .write(Lane::Requests, Durability::Acknowledged, weight, work)
            .await
    }

    /// A write of the dispatcher, in its own lane, with the given durability (see the
    /// module docs).
    async fn write_dispatcher<T, F>(&self, durability: Durability, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.inner
            .writer
            .write(Lane::Dispatcher, durability, 1, work)
            .await
    }

    /// Runs `work` on a read-only connection on the blocking pool.
    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            // Take the first idle reader; if all are busy, wait on one chosen by thread.
            for reader in &inner.readers {
                if let Ok(conn) = reader.try_lock() {
                    return work(&conn);
                }
            }
            let index = thread_index() % inner.readers.len();
            let conn = inner.readers[index]
                .lock()
                .map_err(|_| StoreError::Backend("reader connection poisoned".into()))?;
            work(&conn)
        })
        .await
    }
}

fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    if !conn.is_readonly(rusqlite::DatabaseName::Main)? {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "SQLite refused WAL mode (journal_mode is {mode}); is the file on a network filesystem?"
            )));
        }
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    // Each write of a group commit runs in a savepoint, whose journal (the pages as
    // they were before it) would otherwise go to a temporary file, one write call
    // per page: keep it, and other temporary tables, in memory.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

fn thread_index() -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::thread::current().id().hash(&mut hasher);
    hasher.finish() as usize
}

async fn run_blocking<T, F>(work: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StoreResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| StoreError::Backend(format!("store task failed: {err}")))?
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    async fn create_partner(&self, partner: NewPartner, audit: AuditEntry) -> StoreResult<Partner> {
        self.write(move |tx| {
            let created = partners::create(tx, &partner)?;
            operators::record_audit(tx, &audit)?;
            Ok(created)
        })
        .await
    }

    async fn list_partners(&self) -> StoreResult<Vec<Partner>> {
        self.read(partners::list).await
    }

    async fn get_partner(&self, id: &str) -> StoreResult<Partner> {
        let id = id.to_owned();
        self.read(move |conn| partners::get(conn, &id)).await
    }

    async fn find_partner_by_key(&self, partner_key: &str) -> StoreResult<Option<PartnerAuth>> {
        let key = partner_key.to_owned();
        self.read(move |conn| partners::find_by_key(conn, &key))
            .await
    }

    async fn set_secret_hash(
        &self,
        id: &str,
        secret_hash: &str,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let (id, hash) = (id.to_owned(), secret_hash.to_owned());
        self.write(move |tx| {
            partners::set_secret_hash(tx, &id, &hash, audit.at)?;
            operators::record_audit(tx, &audit)
        })
        .await
    }

    async fn set_webhook_secret(
        &self,
        id: &str,
        rotation: WebhookSecretRotation,
        audit: AuditEntry,
    ) -> StoreResult<Partner> {
        let id = id.to_owned();
        self.write(move |tx| {
            let partner = partners::set_webhook_secret(tx, &id, &rotation, audit.at)?;
            operators::record_audit(tx, &audit)?;
            Ok(partner)
        })
        .await
    }

    async fn update_partner(
        &self,
        id: &str,
        update: PartnerUpdate,
        audit: AuditEntry,
    ) -> StoreResult<Partner> {
        let id = id.to_owned();
        self.write(move |tx| {
            let partner = partners::update(tx, &id, &update, audit.at)?;
            operators::record_audit(tx, &audit)?;
            Ok(partner)
        })
        .await
    }

    async fn set_partner_enabled(
        &self,
        id: &str,
        enabled: bool,
        audit: AuditEntry,
    ) -> StoreResult<Partner> {
        let id = id.to_owned();
        self.write(move |tx| {
            let partner = partners::set_enabled(tx, &id, enabled, audit.at)?;
            operators::record_audit(tx, &audit)?;
            Ok(partner)
        })
        .await
    }

    async fn upsert_mapping(&self, mapping: NewMapping, audit: AuditEntry) -> StoreResult<Mapping> {
        self.write(move |tx| {
            let stored = partners::upsert_mapping(tx, &mapping, audit.at)?;
            let mut audit = audit;
            audit.details["mapping_id"] = serde_json::json!(stored.id);
            operators::record_audit(tx, &audit)?;
            Ok(stored)
        })
        .await
    }

    async fn list_mappings(&self, partner_id: Option<&str>) -> StoreResult<Vec<Mapping>> {
        let partner_id = partner_id.map(str::to_owned);
        self.read(move |conn| partners::list_mappings(conn, partner_id.as_deref()))
            .await
    }

    async fn delete_mapping(
        &self,
        partner_id: &str,
        mapping_id: &str,
        audit: AuditEntry,
    ) -> StoreResult<DeletedMapping> {
        let (partner_id, mapping_id) = (partner_id.to_owned(), mapping_id.to_owned());
        self.write(move |tx| {
            let deleted = dispatch::delete_mapping(tx, &partner_id, &mapping_id, audit.at)?;
            let mut audit = audit;
            audit.details["stopped"] = serde_json::json!(deleted.stopped);
            operators::record_audit(tx, &audit)?;
            Ok(deleted)
        })
        .await
    }

    async fn ingest(&self, request: IngestRequest) -> StoreResult<IngestOutcome> {
        let weight = request.items.len();
        self.write_weighted(weight, move |tx| ingest::ingest(tx, request))
            .await
    }

    async fn get_order(&self, order_id: i64) -> StoreResult<Option<StoredOrder>> {
        self.read(move |conn| ingest::get_order(conn, order_id))
            .await
    }

    async fn form_deliveries(&self, limits: BatchLimits, now: Millis) -> StoreResult<usize> {
        let mut formed = 0;
        // Bounded transactions: a large backlog is batched a slice at a time so the
        // writer is never held for long.
        loop {
            let (deliveries, items) = self
                .write_dispatcher(Durability::Acknowledged, move |tx| {
                    dispatch::form_deliveries(tx, limits, now)
                })
                .await?;
            formed += deliveries;
            if items < dispatch::FORM_SLICE {
                return Ok(formed);
            }
        }
    }

    async fn claim_due(&self, claim: ClaimRequest) -> StoreResult<Vec<ClaimedDelivery>> {
        self.write_dispatcher(Durability::Bookkeeping, move |tx| {
            let mut claim = claim;
            // What waits on a disabled endpoint leaves the due index before the claim
            // reads it.
            endpoints::hold_waiting(tx, claim.now)?;
            dispatch::claim_due(tx, &mut claim)
        })
        .await
    }

    async fn release_leases(&self, leases: &[HeldLease]) -> StoreResult<()> {
        let leases = leases.to_vec();
        self.write_dispatcher(Durability::Bookkeeping, move |tx| {
            dispatch::release_leases(tx, &leases)
        })
        .await
    }

    async fn record_outcomes(&self, outcomes: Vec<AttemptOutcome>) -> StoreResult<usize> {
        self.write_dispatcher(Durability::Bookkeeping, move |tx| {
            dispatch::record_outcomes(tx, &outcomes)
        })
        .await
    }

    async fn record_endpoint_health(
        &self,
        outcomes: Vec<AttemptOutcome>,
        policy: EndpointPolicy,
    ) -> StoreResult<Vec<EndpointTransition>> {
        self.write_dispatcher(Durability::Bookkeeping, move |tx| {
            endpoints::record_health(tx, &outcomes, &policy)
        })
        .await
    }

    async fn list_endpoints(&self, partner_id: Option<&str>) -> StoreResult<Vec<EndpointHealth>> {
        let partner_id = partner_id.map(str::to_owned);
        self.read(move |conn| endpoints::list(conn, partner_id.as_deref()))
            .await
    }

    async fn enable_endpoint(
        &self,
        partner_id: &str,
        url: &str,
        audit: AuditEntry,
    ) -> StoreResult<EndpointHealth> {
        let (partner_id, url) = (partner_id.to_owned(), url.to_owned());
        self.write(move |tx| endpoints::enable(tx, &partner_id, &url, &audit))
            .await
    }

    async fn list_deliveries(&self, filter: DeliveryFilter) -> StoreResult<DeliveryPage> {
        self.read(move |conn| deliveries::list(conn, &filter)).await
    }

    async fn get_delivery(&self, event_id: &str) -> StoreResult<Option<DeliveryDetail>> {
        let event_id = event_id.to_owned();
        self.read(move |conn| deliveries::get(conn, &event_id))
            .await
    }

    async fn create_test_delivery(&self, delivery: NewTestDelivery) -> StoreResult<()> {
        self.write(move |tx| deliveries::create_test(tx, &delivery))
            .await
    }

    async fn partner_url_activity(&self, partner_id: &str) -> StoreResult<Vec<UrlActivity>> {
        let partner_id = partner_id.to_owned();
        self.read(move |conn| partner_views::url_activity(conn, &partner_id))
            .await
    }

    async fn retry_delivery_now(
        &self,
        event_id: &str,
        audit: AuditEntry,
    ) -> StoreResult<DeliverySummary> {
        let event_id = event_id.to_owned();
        self.write(move |tx| {
            let summary = retry_now::retry_one(tx, &event_id, audit.at)?;
            operators::record_audit(tx, &audit)?;
            Ok(summary)
        })
        .await
    }

    async fn retry_matching_now(
        &self,
        filter: DeliveryFilter,
        audit: AuditEntry,
    ) -> StoreResult<RetryOutcome> {
        self.write(move |tx| {
            let outcome = retry_now::retry_matching(tx, &filter, audit.at)?;
            let mut audit = audit;
            audit.details["retried"] = serde_json::json!(outcome.retried);
            operators::record_audit(tx, &audit)?;
            Ok(outcome)
        })
        .await
    }

    async fn replay_delivery(
        &self,
        event_id: &str,
        audit: AuditEntry,
    ) -> StoreResult<DeliverySummary> {
        let event_id = event_id.to_owned();
        self.write(move |tx| {
            let summary = deliveries::replay_one(tx, &event_id, audit.at)?;
            operators::record_audit(tx, &audit)?;
            Ok(summary)
        })
        .await
    }

    async fn replay_matching(
        &self,
        filter: DeliveryFilter,
        include_delivered: bool,
        audit: AuditEntry,
    ) -> StoreResult<ReplayOutcome> {
        self.write(move |tx| {
            let outcome = deliveries::replay_matching(tx, &filter, include_delivered, audit.at)?;
            let mut audit = audit;
            audit.details["replayed"] = serde_json::json!(outcome.replayed);
            audit.details["skipped"] = serde_json::json!(outcome.skipped_total);
            operators::record_audit(tx, &audit)?;
            Ok(outcome)
        })
        .await
    }

    async fn delivery_stats(&self) -> StoreResult<Vec<PartnerDeliveryStats>> {
        self.read(partner_api::delivery_stats).await
    }

    async fn get_order_for_partner(
        &self,
        partner_id: &str,
        order_id: i64,
    ) -> StoreResult<Option<StoredOrder>> {
        let partner_id = partner_id.to_owned();
        self.read(move |conn| partner_api::get_order(conn, &partner_id, order_id))
            .await
    }

    async fn list_orders_for_partner(&self, query: PartnerOrderQuery) -> StoreResult<OrderPage> {
        self.read(move |conn| partner_api::list_orders(conn, &query))
            .await
    }

    async fn idempotent_answer(&self, scope: &str, key: &str) -> StoreResult<Option<StoredAnswer>> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        self.read(move |conn| partner_api::answer(conn, &scope, &key))
            .await
    }

    async fn commit_partner_change(&self, change: PartnerOrderChange) -> StoreResult<()> {
        self.write(move |tx| partner_api::commit_change(tx, &change))
            .await
    }

    async fn create_operator_token(
        &self,
        token: NewOperatorToken,
        audit: AuditEntry,
    ) -> StoreResult<OperatorToken> {
        self.write(move |tx| operators::create_token(tx, &token, &audit))
            .await
    }

    async fn list_operator_tokens(&self) -> StoreResult<Vec<OperatorToken>> {
        self.read(operators::list_tokens).await
    }

    async fn find_operator_token(&self, token_hash: &str) -> StoreResult<Option<OperatorToken>> {
        let hash = token_hash.to_owned();
        self.read(move |conn| operators::find_token(conn, &hash))
            .await
    }

    async fn revoke_operator_token(&self, name: &str, audit: AuditEntry) -> StoreResult<()> {
        let name = name.to_owned();
        self.write(move |tx| operators::revoke_token(tx, &name, &audit))
            .await
    }

    async fn list_audit(&self, query: AuditQuery) -> StoreResult<AuditPage> {
        self.read(move |conn| operators::list_audit(conn, &query))
            .await
    }

    async fn check_master_key(&self, check: &str) -> StoreResult<KeyCheck> {
        let check = check.to_owned();
        self.write(move |tx| operators::check_master_key(tx, &check))
            .await
    }

    async fn prune_batch(
        &self,
        kind: PruneKind,
        policy: RetentionPolicy,
        now: Millis,
    ) -> StoreResult<PruneBatch> {
        let cut = policy.cutoffs(now);
        // Losing a prune to a power cut only means it is done again.
        self.inner
            .writer
            .write(Lane::Requests, Durability::Bookkeeping, 1, move |tx| {
                retention::prune_batch(tx, kind, cut, now)
            })
            .await
    }

    async fn count_prunable(
        &self,
        policy: RetentionPolicy,
        now: Millis,
    ) -> StoreResult<PruneCounts> {
        let cut = policy.cutoffs(now);
        self.read(move |conn| retention::count_prunable(conn, cut))
            .await
    }

    async fn reclaim_space(&self, pages: u32) -> StoreResult<u64> {
        self.inner
            .writer
            .write(Lane::Requests, Durability::Bookkeeping, 1, move |tx| {
                retention::reclaim(tx, pages)
            })
            .await
    }

    async fn record_audit(&self, audit: AuditEntry) -> StoreResult<()> {
        self.write(move |tx| operators::record_audit(tx, &audit))
            .await
    }

    fn commits(&self) -> Option<u64> {
        Some(SqliteStore::commits(self))
    }
}
