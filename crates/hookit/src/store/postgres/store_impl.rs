//! The [`Store`] trait over the PostgreSQL modules: one transaction per call, run
//! again on contention (see [`in_transaction`]), and a `NOTIFY` with every write that
//! creates work for a dispatcher.

use super::failure::PgFailure;
use super::*;

/// Reads run in a transaction too: one round trip more, but a read then sees one
/// snapshot, and a pooled connection is never left mid-transaction.
macro_rules! read {
    ($store:expr, |$conn:ident| $body:expr) => {
        in_transaction!($store, |$conn| $body)
    };
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self
            .inner
            .pool
            .acquire()
            .await
            .map_err(|err| PgFailure::from(err).into_store())?;
        sqlx::query("SELECT 1")
            .execute(&mut *conn)
            .await
            .map_err(|err| PgFailure::from(err).into_store())?;
        Ok(())
    }

    async fn create_partner(&self, partner: NewPartner, audit: AuditEntry) -> StoreResult<Partner> {
        in_transaction!(self, |conn| async {
            let created = partners::create(&mut *conn, &partner).await?;
            operators::record_audit(conn, &audit).await?;
            PgResult::Ok(created)
        })
    }

    async fn list_partners(&self) -> StoreResult<Vec<Partner>> {
        read!(self, |conn| partners::list(conn))
    }

    async fn get_partner(&self, id: &str) -> StoreResult<Partner> {
        read!(self, |conn| partners::get(conn, id))
    }

    async fn find_partner_by_key(&self, partner_key: &str) -> StoreResult<Option<PartnerAuth>> {
        read!(self, |conn| partners::find_by_key(conn, partner_key))
    }

    async fn set_secret_hash(
        &self,
        id: &str,
        secret_hash: &str,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        in_transaction!(self, |conn| async {
            partners::set_secret_hash(&mut *conn, id, secret_hash, audit.at).await?;
            operators::record_audit(conn, &audit).await
        })
    }

    async fn set_webhook_secret(
        &self,
        id: &str,
        rotation: WebhookSecretRotation,
        audit: AuditEntry,
    ) -> StoreResult<Partner> {
        in_transaction!(self, |conn| async {
            let partner = partners::set_webhook_secret(&mut *conn, id, &rotation, audit.at).await?;
            operators::record_audit(conn, &audit).await?;
            PgResult::Ok(partner)
        })
    }

    async fn update_partner(
        &self,
        id: &str,
        update: PartnerUpdate,
        audit: AuditEntry,
    ) -> StoreResult<Partner> {
        in_transaction!(self, |conn| async {
            let partner = partners::update(&mut *conn, id, &update, audit.at).await?;
            operators::record_audit(conn, &audit).await?;
            PgResult::Ok(partner)
        })
    }

    async fn set_partner_enabled(
        &self,
        id: &str,
        enabled: bool,
        audit: AuditEntry,
    ) -> StoreResult<Partner> {
        in_transaction!(self, |conn| async {
            let partner = partners::set_enabled(&mut *conn, id, enabled, audit.at).await?;
            operators::record_audit(&mut *conn, &audit).await?;
            if enabled {
                // Its queued changes can be batched now.
                self.notify_work(conn).await?;
            }
            PgResult::Ok(partner)
        })
    }

    async fn upsert_mapping(&self, mapping: NewMapping, audit: AuditEntry) -> StoreResult<Mapping> {
        in_transaction!(self, |conn| async {
            let stored = partners::upsert_mapping(&mut *conn, &mapping, audit.at).await?;
            let mut audit = audit.clone();
            audit.details["mapping_id"] = serde_json::json!(stored.id);
            operators::record_audit(conn, &audit).await?;
            PgResult::Ok(stored)
        })
    }

    async fn list_mappings(&self, partner_id: Option<&str>) -> StoreResult<Vec<Mapping>> {
        read!(self, |conn| partners::list_mappings(conn, partner_id))
    }

    async fn delete_mapping(
        &self,
        partner_id: &str,
        mapping_id: &str,
        audit: AuditEntry,
    ) -> StoreResult<DeletedMapping> {
        in_transaction!(self, |conn| async {
            let deleted =
                dispatch::delete_mapping(&mut *conn, partner_id, mapping_id, audit.at).await?;
            let mut audit = audit.clone();
            audit.details["stopped"] = serde_json::json!(deleted.stopped);
            operators::record_audit(&mut *conn, &audit).await?;
            // Changes waiting behind stopped ones may be ready now.
            self.notify_work(conn).await?;
            PgResult::Ok(deleted)
        })
    }

    async fn ingest(&self, request: IngestRequest) -> StoreResult<IngestOutcome> {
        let outcome = in_transaction!(self, |conn| ingest::ingest(conn, &request))?;
        if outcome.results.iter().any(|result| result.routed_to > 0) && !outcome.idempotent_replay {
            // After the commit, from a connection of its own (see `wakeup::Notifier`).
            self.inner.notifier.wake();
        }
        Ok(outcome)
    }

    async fn get_order(&self, order_id: i64) -> StoreResult<Option<StoredOrder>> {
        read!(self, |conn| ingest::get_order(conn, order_id))
    }

    async fn form_deliveries(&self, limits: BatchLimits, now: Millis) -> StoreResult<usize> {
        let mut formed = 0;
        // Bounded transactions: a large backlog is batched a slice at a time.
        loop {
            let (deliveries, items) =
                in_transaction!(self, |conn| dispatch::form_deliveries(conn, limits, now))?;
            formed += deliveries;
            if items < dispatch::FORM_SLICE {
                return Ok(formed);
            }
        }
    }

    async fn claim_due(&self, claim: ClaimRequest) -> StoreResult<Vec<ClaimedDelivery>> {
        // `accept` may count what it admitted, so a claim is never run twice: a
        // contention failure is left to the dispatcher's next claim.
        let mut claim = claim;
        self.inner.transactions.fetch_add(1, Ordering::Relaxed);
        let result: PgResult<_> = async {
            let mut tx = self.inner.pool.begin().await?;
            // What waits on a disabled endpoint leaves the due index before the claim
            // reads it.
            let claimed = match endpoints::hold_waiting(&mut tx, claim.now).await {
                Ok(_) => dispatch::claim_due(&mut tx, &mut claim).await,
                Err(failure) => Err(failure),
            };
            match claimed {
                Ok(claimed) => {
                    tx.commit().await.map_err(PgFailure::at_commit)?;
                    Ok(claimed)
                }
                Err(failure) => {
                    let _ = tx.rollback().await;
                    Err(failure)
                }
            }
        }
        .await;
        result.map_err(PgFailure::into_store)
    }

    async fn release_leases(&self, leases: &[HeldLease]) -> StoreResult<()> {
        in_transaction!(self, |conn| dispatch::release_leases(conn, leases))
    }

    async fn record_outcomes(&self, outcomes: Vec<AttemptOutcome>) -> StoreResult<usize> {
        let (stale, promoted) =
            in_transaction!(self, |conn| dispatch::record_outcomes(conn, &outcomes))?;
        if promoted {
            self.inner.notifier.wake();
        }
        Ok(stale)
    }

    async fn record_endpoint_health(
        &self,
        outcomes: Vec<AttemptOutcome>,
        policy: EndpointPolicy,
    ) -> StoreResult<Vec<EndpointTransition>> {
        in_transaction!(self, |conn| endpoints::record_health(
            conn, &outcomes, &policy
        ))
    }

    async fn list_endpoints(&self, partner_id: Option<&str>) -> StoreResult<Vec<EndpointHealth>> {
        read!(self, |conn| endpoints::list(conn, partner_id))
    }

    async fn enable_endpoint(
        &self,
        partner_id: &str,
        url: &str,
        audit: AuditEntry,
    ) -> StoreResult<EndpointHealth> {
        in_transaction!(self, |conn| async {
            let health = endpoints::enable(&mut *conn, partner_id, url, &audit).await?;
            // Its waiting deliveries can be claimed now.
            self.notify_work(conn).await?;
            PgResult::Ok(health)
        })
    }

    async fn list_deliveries(&self, filter: DeliveryFilter) -> StoreResult<DeliveryPage> {
        read!(self, |conn| deliveries::list(conn, &filter))
    }

    async fn get_delivery(&self, event_id: &str) -> StoreResult<Option<DeliveryDetail>> {
        read!(self, |conn| deliveries::get(conn, event_id))
    }

    async fn retry_delivery_now(
        &self,
        event_id: &str,
        audit: AuditEntry,
    ) -> StoreResult<DeliverySummary> {
        in_transaction!(self, |conn| async {
            let summary = retry_now::retry_one(&mut *conn, event_id, audit.at).await?;
            operators::record_audit(&mut *conn, &audit).await?;
            self.notify_work(conn).await?;
            PgResult::Ok(summary)
        })
    }

    async fn retry_matching_now(
        &self,
        filter: DeliveryFilter,
        audit: AuditEntry,
    ) -> StoreResult<RetryOutcome> {
        in_transaction!(self, |conn| async {
            let outcome = retry_now::retry_matching(&mut *conn, &filter, audit.at).await?;
            let mut audit = audit.clone();
            audit.details["retried"] = serde_json::json!(outcome.retried);
            operators::record_audit(&mut *conn, &audit).await?;
            if outcome.retried > 0 {
                self.notify_work(conn).await?;
            }
            PgResult::Ok(outcome)
        })
    }

    async fn create_test_delivery(&self, delivery: NewTestDelivery) -> StoreResult<()> {
        in_transaction!(self, |conn| async {
            deliveries::create_test(&mut *conn, &delivery).await?;
            self.notify_work(conn).await
        })
    }

    async fn replay_delivery(
        &self,
        event_id: &str,
        audit: AuditEntry,
    ) -> StoreResult<DeliverySummary> {
        in_transaction!(self, |conn| async {
            let summary = deliveries::replay_one(&mut *conn, event_id, audit.at).await?;
            operators::record_audit(&mut *conn, &audit).await?;
            self.notify_work(conn).await?;
            PgResult::Ok(summary)
        })
    }

    async fn replay_matching(
        &self,
        filter: DeliveryFilter,
        include_delivered: bool,
        audit: AuditEntry,
    ) -> StoreResult<ReplayOutcome> {
        in_transaction!(self, |conn| async {
            let outcome =
                deliveries::replay_matching(&mut *conn, &filter, include_delivered, audit.at)
                    .await?;
            let mut audit = audit.clone();
            audit.details["replayed"] = serde_json::json!(outcome.replayed);
            audit.details["skipped"] = serde_json::json!(outcome.skipped_total);
            operators::record_audit(&mut *conn, &audit).await?;
            if outcome.replayed > 0 {
                self.notify_work(conn).await?;
            }
            PgResult::Ok(outcome)
        })
    }

    async fn delivery_stats(&self) -> StoreResult<Vec<PartnerDeliveryStats>> {
        read!(self, |conn| partner_api::delivery_stats(conn))
    }

    async fn get_order_for_partner(
        &self,
        partner_id: &str,
        order_id: i64,
    ) -> StoreResult<Option<StoredOrder>> {
        read!(self, |conn| partner_api::get_order(
            conn, partner_id, order_id
        ))
    }

    async fn list_orders_for_partner(&self, query: PartnerOrderQuery) -> StoreResult<OrderPage> {
        read!(self, |conn| partner_api::list_orders(conn, &query))
    }

    async fn partner_url_activity(&self, partner_id: &str) -> StoreResult<Vec<UrlActivity>> {
        read!(self, |conn| partner_views::url_activity(conn, partner_id))
    }

    async fn idempotent_answer(&self, scope: &str, key: &str) -> StoreResult<Option<StoredAnswer>> {
        read!(self, |conn| ingest::lookup_answer(conn, scope, key))
    }

    async fn commit_partner_change(&self, change: PartnerOrderChange) -> StoreResult<()> {
        in_transaction!(self, |conn| async {
            partner_api::commit_change(&mut *conn, &change).await?;
            self.notify_work(conn).await
        })
    }

    async fn create_operator_token(
        &self,
        token: NewOperatorToken,
        audit: AuditEntry,
    ) -> StoreResult<OperatorToken> {
        in_transaction!(self, |conn| operators::create_token(conn, &token, &audit))
    }

    async fn list_operator_tokens(&self) -> StoreResult<Vec<OperatorToken>> {
        read!(self, |conn| operators::list_tokens(conn))
    }

    async fn find_operator_token(&self, token_hash: &str) -> StoreResult<Option<OperatorToken>> {
        read!(self, |conn| operators::find_token(conn, token_hash))
    }

    async fn revoke_operator_token(&self, name: &str, audit: AuditEntry) -> StoreResult<()> {
        in_transaction!(self, |conn| operators::revoke_token(conn, name, &audit))
    }

    async fn list_audit(&self, query: AuditQuery) -> StoreResult<AuditPage> {
        read!(self, |conn| operators::list_audit(conn, &query))
    }

    async fn check_master_key(&self, check: &str) -> StoreResult<KeyCheck> {
        in_transaction!(self, |conn| operators::check_master_key(conn, check))
    }

    async fn prune_batch(
        &self,
        kind: PruneKind,
        policy: RetentionPolicy,
        now: Millis,
    ) -> StoreResult<PruneBatch> {
        let cut = policy.cutoffs(now);
        in_transaction!(self, |conn| retention::prune_batch(conn, kind, cut, now))
    }

    async fn count_prunable(
        &self,
        policy: RetentionPolicy,
        now: Millis,
    ) -> StoreResult<PruneCounts> {
        let cut = policy.cutoffs(now);
        read!(self, |conn| retention::count_prunable(conn, cut))
    }

    async fn record_audit(&self, audit: AuditEntry) -> StoreResult<()> {
        in_transaction!(self, |conn| operators::record_audit(conn, &audit))
    }

    /// Plain deletes are enough where the server's autovacuum runs; where it is off,
    /// this vacuums the tables pruning and the queue's updates leave dead rows in, so
    /// their space is reused. A vacuum that fails (a statement timeout on a huge table)
    /// is logged and tried again after the next prune: what was pruned stays pruned.
    async fn reclaim_space(&self, _pages: u32) -> StoreResult<u64> {
        if self.inner.vacuums_itself {
            retention::vacuum(&self.inner.pool).await;
        }
        Ok(0)
    }

    fn work_signal(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        self.inner.wakeup.signal()
    }
}
