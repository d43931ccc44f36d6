//! The checks of the store suite, one per behaviour.

use super::*;

pub async fn partners_round_trip(store: &dyn Store) {
    let created = partner(store, "Acme POS").await;
    assert_eq!(created.name, "Acme POS");
    assert!(created.enabled);
    assert_eq!(store.get_partner(&created.id).await.expect("get"), created);
    let listed = store.list_partners().await.expect("list");
    assert_eq!(listed, vec![created.clone()]);
    let auth = store
        .find_partner_by_key(&created.partner_key)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(auth.partner, created);
    assert_eq!(auth.secret_hash, "sha256:00");
    assert!(
        store
            .find_partner_by_key("pk_nope")
            .await
            .expect("find")
            .is_none()
    );
    let missing = store.get_partner(&IdKind::Partner.generate()).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
}

pub async fn secrets_and_enabled_flag(store: &dyn Store) {
    let p = partner(store, "Acme").await;
    store
        .set_secret_hash(&p.id, "sha256:11", audit("rotate"))
        .await
        .expect("rotate");
    let auth = store
        .find_partner_by_key(&p.partner_key)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(auth.secret_hash, "sha256:11");
    store
        .set_webhook_secret(
            &p.id,
            WebhookSecretRotation {
                encrypted: vec![9, 9],
                switch_at: None,
            },
            audit("rotate"),
        )
        .await
        .expect("rotate webhook");
    let disabled = store
        .set_partner_enabled(
            &p.id,
            false,
            AuditEntry {
                at: T0 + 3,
                ..audit("partner.disabled")
            },
        )
        .await
        .expect("disable");
    assert!(!disabled.enabled);
    assert_eq!(disabled.updated_at, T0 + 3);
    let missing = store
        .set_secret_hash(&IdKind::Partner.generate(), "x", audit("rotate"))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}

pub async fn mappings_upsert_and_delete(store: &dyn Store) {
    let p = partner(store, "Acme").await;
    let first = map(
        store,
        &p,
        663,
        Some(1062),
        EventType::OrderCreated,
        "https://a.example/1",
    )
    .await;
    let again = map(
        store,
        &p,
        663,
        Some(1062),
        EventType::OrderCreated,
        "https://a.example/2",
    )
    .await;
    assert_eq!(first.id, again.id, "same tuple keeps its mapping");
    assert_eq!(again.url, "https://a.example/2");
    let wide = map(
        store,
        &p,
        663,
        None,
        EventType::OrderCreated,
        "https://a.example/w",
    )
    .await;
    assert_ne!(wide.id, first.id, "brand-wide is its own tuple");
    assert_eq!(
        store.list_mappings(Some(&p.id)).await.expect("list").len(),
        2
    );
    store
        .delete_mapping(&p.id, &first.id, audit("mapping.deleted"))
        .await
        .expect("delete");
    assert_eq!(
        store.list_mappings(Some(&p.id)).await.expect("list"),
        vec![wide]
    );
    let gone = store
        .delete_mapping(&p.id, &first.id, audit("mapping.deleted"))
        .await;
    assert!(matches!(gone, Err(StoreError::NotFound { .. })));
}

pub async fn routing_prefers_exact_branch_and_holds_a_disabled_partners_changes(store: &dyn Store) {
    let a = partner(store, "A").await;
    let b = partner(store, "B").await;
    let off = partner(store, "Off").await;
    map(
        store,
        &a,
        663,
        None,
        EventType::OrderCreated,
        "https://a.example/wide",
    )
    .await;
    map(
        store,
        &a,
        663,
        Some(1062),
        EventType::OrderCreated,
        "https://a.example/exact",
    )
    .await;
    map(
        store,
        &b,
        663,
        None,
        EventType::OrderCreated,
        "https://b.example/wide",
    )
    .await;
    map(
        store,
        &off,
        663,
        None,
        EventType::OrderCreated,
        "https://off.example/",
    )
    .await;
    map(
        store,
        &a,
        999,
        None,
        EventType::OrderCreated,
        "https://a.example/other-brand",
    )
    .await;
    store
        .set_partner_enabled(&off.id, false, audit("partner.disabled"))
        .await
        .expect("disable");
    let outcome = ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(1, 663, 1062, 1, "2026-01-01T00:00:00Z"),
        )],
        T0,
    )
    .await;
    assert_eq!(
        outcome.results[0].routed_to, 3,
        "a disabled partner's change is kept for it"
    );
    store.form_deliveries(LIMITS, T0).await.expect("form");
    let mut urls: Vec<String> = claim(store, T0).await.into_iter().map(|d| d.url).collect();
    urls.sort();
    assert_eq!(
        urls,
        ["https://a.example/exact", "https://b.example/wide"],
        "nothing is formed or claimed for a disabled partner"
    );
    store
        .set_partner_enabled(&off.id, true, audit("partner.enabled"))
        .await
        .expect("enable");
    store.form_deliveries(LIMITS, T0 + 1).await.expect("form");
    let urls: Vec<String> = claim(store, T0 + 1)
        .await
        .into_iter()
        .map(|d| d.url)
        .collect();
    assert_eq!(
        urls,
        ["https://off.example/"],
        "enabling delivers what was kept"
    );
}

pub async fn changes_in_one_tick_share_a_delivery(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        663,
        Some(1062),
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    let items = vec![
        item(
            EventType::OrderCreated,
            order(1, 663, 1062, 1, "2026-01-01T00:00:00Z"),
        ),
        item(
            EventType::OrderCreated,
            order(2, 663, 1062, 1, "2026-01-01T00:00:00Z"),
        ),
    ];
    ingest(store, items, T0).await;
    assert_eq!(
        store.form_deliveries(LIMITS, T0 + 100).await.expect("form"),
        1
    );
    let claimed = claim(store, T0 + 100).await;
    assert_eq!(claimed.len(), 1);
    let delivery = &claimed[0];
    assert!(delivery.event_id.starts_with("evt_"));
    assert_eq!(delivery.attempt_number, 1);
    assert_eq!(delivery.first_ingested_at, T0);
    assert_eq!(order_ids(delivery), [1, 2]);
    let body = body_json(delivery);
    assert_eq!(body["brand_id"], 663);
    assert_eq!(body["branch_id"], 1062);
    assert_eq!(body["orders"][0]["version"], 1);
    let text = String::from_utf8(delivery.body.clone()).expect("utf8");
    assert!(
        text.starts_with(r#"{"brand_id":663,"branch_id":1062,"orders":[{"id":1,"#),
        "{text}"
    );
    assert!(
        text.contains(r#""total":12.50"#),
        "money keeps its exact text: {text}"
    );
}

pub async fn batches_respect_the_order_cap(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    let items = (1..=7)
        .map(|id| {
            item(
                EventType::OrderCreated,
                order(id, 1, 2, 1, "2026-01-01T00:00:00Z"),
            )
        })
        .collect();
    ingest(store, items, T0).await;
    let limits = BatchLimits {
        max_orders: 3,
        max_bytes: 1 << 20,
    };
    assert_eq!(store.form_deliveries(limits, T0).await.expect("form"), 3);
    let mut sizes: Vec<usize> = claim(store, T0)
        .await
        .iter()
        .map(|d| order_ids(d).len())
        .collect();
    sizes.sort();
    assert_eq!(sizes, [1, 3, 3]);
}

pub async fn later_change_waits_for_the_earlier_one(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/created",
    )
    .await;
    map(
        store,
        &p,
        1,
        None,
        EventType::OrderStatusUpdated,
        "https://a.example/status",
    )
    .await;
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(5, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        T0,
    )
    .await;
    ingest(
        store,
        vec![item(
            EventType::OrderStatusUpdated,
            order(5, 1, 2, 2, "2026-01-01T00:01:00Z"),
        )],
        T0 + 1,
    )
    .await;
    store.form_deliveries(LIMITS, T0 + 2).await.expect("form");
    let first = claim(store, T0 + 2).await;
    assert_eq!(first.len(), 1, "only the created event may go out");
    assert_eq!(first[0].event_type, EventType::OrderCreated);
    // Still in flight: nothing more, even after another tick.
    store.form_deliveries(LIMITS, T0 + 3).await.expect("form");
    assert!(claim(store, T0 + 3).await.is_empty());
    // A failed attempt that will be retried still blocks the later change.
    store
        .record_outcomes(vec![outcome(&first[0], failure(), Some(T0 + 10), T0 + 4)])
        .await
        .expect("record");
    store.form_deliveries(LIMITS, T0 + 5).await.expect("form");
    assert!(claim(store, T0 + 5).await.is_empty());
    let retry = claim(store, T0 + 10).await;
    assert_eq!(retry.len(), 1);
    assert_eq!(
        retry[0].event_id, first[0].event_id,
        "a retry keeps its event id"
    );
    assert_eq!(retry[0].attempt_number, 2);
    store
        .record_outcomes(vec![outcome(&retry[0], ACK, None, T0 + 11)])
        .await
        .expect("record");
    store.form_deliveries(LIMITS, T0 + 12).await.expect("form");
    let second = claim(store, T0 + 12).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].event_type, EventType::OrderStatusUpdated);
    assert_eq!(body_json(&second[0])["orders"][0]["version"], 2);
    assert_eq!(second[0].url, "https://a.example/status");
}

pub async fn stale_updates_are_ignored_and_versions_grow(store: &dyn Store) {
    let first = ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(9, 1, 2, 1, "2026-01-01T10:00:00Z"),
        )],
        T0,
    )
    .await;
    assert_eq!(first.results[0].version, 1);
    let second = ingest(
        store,
        vec![item(
            EventType::OrderStatusUpdated,
            order(9, 1, 2, 2, "2026-01-01T10:05:00Z"),
        )],
        T0,
    )
    .await;
    assert_eq!(second.results[0].version, 2);
    assert_eq!(second.results[0].result, "stored");
    let stale = ingest(
        store,
        vec![item(
            EventType::OrderStatusUpdated,
            order(9, 1, 2, 3, "2026-01-01T10:01:00Z"),
        )],
        T0,
    )
    .await;
    assert_eq!(stale.results[0].result, "ignored_stale");
    assert_eq!(stale.results[0].version, 2);
    let stored = store.get_order(9).await.expect("get").expect("exists");
    assert_eq!(stored.version, 2);
    let record: Value = serde_json::from_slice(&stored.record).expect("json");
    assert_eq!(record["status"], 2);
    assert_eq!(record["version"], 2);
    assert!(store.get_order(404).await.expect("get").is_none());
}

pub async fn idempotency_key_replays_first_answer(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    let key = IdempotencyKey {
        key: "push-1".into(),
        request_digest: "d1".into(),
    };
    let push = |key: IdempotencyKey| IngestRequest {
        items: vec![item(
            EventType::OrderCreated,
            order(3, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        idempotency: Some(key),
        now: T0,
        freshness_skew: SKEW,
    };
    let first = store.ingest(push(key.clone())).await.expect("first");
    assert!(!first.idempotent_replay);
    let again = store.ingest(push(key.clone())).await.expect("again");
    assert!(again.idempotent_replay);
    assert_eq!(again.results, first.results);
    assert_eq!(
        store
            .get_order(3)
            .await
            .expect("get")
            .expect("exists")
            .version,
        1
    );
    assert_eq!(
        store.form_deliveries(LIMITS, T0).await.expect("form"),
        1,
        "one delivery, not two"
    );
    let other = IdempotencyKey {
        key: "push-1".into(),
        request_digest: "d2".into(),
    };
    let mismatch = store.ingest(push(other)).await;
    assert!(
        matches!(mismatch, Err(StoreError::IdempotencyMismatch { .. })),
        "{mismatch:?}"
    );
}

pub async fn leases_exclude_until_they_expire(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(1, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        T0,
    )
    .await;
    store.form_deliveries(LIMITS, T0).await.expect("form");
    let first = claim_skipping(store, T0, vec![]).await;
    assert_eq!(first.len(), 1);
    assert!(
        claim_skipping(store, T0 + 29_999, vec![]).await.is_empty(),
        "leased"
    );
    let taken_over = claim_skipping(store, T0 + 30_000, vec![]).await;
    assert_eq!(taken_over.len(), 1, "an expired lease is claimable again");
    assert_eq!(taken_over[0].event_id, first[0].event_id);
    assert_eq!(taken_over[0].body, first[0].body);
}

pub async fn failures_retry_then_die_and_replay_keeps_bytes(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(1, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        T0,
    )
    .await;
    store.form_deliveries(LIMITS, T0).await.expect("form");
    let first = claim(store, T0).await.remove(0);
    assert_eq!(first.retry_index, 0);
    store
        .record_outcomes(vec![outcome(&first, failure(), Some(T0 + 50), T0 + 1)])
        .await
        .expect("record");
    let pending = store
        .get_delivery(&first.event_id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(pending.summary.state, DeliveryState::Pending);
    assert_eq!(pending.summary.next_attempt_at, Some(T0 + 50));
    let second = claim(store, T0 + 50).await.remove(0);
    assert_eq!(second.retry_index, 1);
    store
        .record_outcomes(vec![outcome(&second, failure(), None, T0 + 51)])
        .await
        .expect("record");
    let dead = store
        .get_delivery(&first.event_id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(dead.summary.state, DeliveryState::Dead);
    assert_eq!(
        dead.summary.dead_reason.as_deref(),
        Some("retries_exhausted")
    );
    assert_eq!(dead.attempts.len(), 2);
    assert_eq!(dead.attempts[0].status_code, Some(500));
    assert_eq!(dead.attempts[1].attempt, 2);
    assert!(claim(store, T0 + 1_000_000).await.is_empty());
    let replayed = store
        .replay_delivery(
            &first.event_id,
            AuditEntry {
                at: T0 + 100,
                ..audit("delivery.replayed")
            },
        )
        .await
        .expect("replay");
    assert_eq!(replayed.state, DeliveryState::Pending);
    let again = claim(store, T0 + 100).await.remove(0);
    assert_eq!(again.event_id, first.event_id);
    assert_eq!(again.body, first.body, "replay sends the same bytes");
    assert_eq!(again.retry_index, 0, "replay starts a fresh schedule");
    assert_eq!(again.attempt_number, 3, "attempt numbers keep counting");
    let busy = store
        .replay_delivery(
            &first.event_id,
            AuditEntry {
                at: T0 + 101,
                ..audit("delivery.replayed")
            },
        )
        .await;
    assert!(
        matches!(busy, Err(StoreError::Conflict(_))),
        "a pending delivery is not replayed"
    );
}

pub async fn deleting_a_mapping_stops_its_work(store: &dyn Store) {
    let p = partner(store, "A").await;
    let m = map(
        store,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(1, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        T0,
    )
    .await;
    store.form_deliveries(LIMITS, T0).await.expect("form");
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(2, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        T0,
    )
    .await;
    let deleted = store
        .delete_mapping(&p.id, &m.id, audit("mapping.deleted"))
        .await
        .expect("delete");
    assert_eq!(
        deleted.stopped, 2,
        "one pending delivery and one queued change"
    );
    store.form_deliveries(LIMITS, T0 + 2).await.expect("form");
    assert!(claim(store, T0 + 2).await.is_empty());
    let page = store
        .list_deliveries(DeliveryFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(page.deliveries.len(), 1);
    assert_eq!(
        page.deliveries[0].dead_reason.as_deref(),
        Some("mapping_deleted")
    );
    let replay = store
        .replay_delivery(
            &page.deliveries[0].event_id,
            AuditEntry {
                at: T0 + 3,
                ..audit("delivery.replayed")
            },
        )
        .await;
    assert!(matches!(replay, Err(StoreError::Conflict(_))));
}

pub async fn saturated_urls_are_skipped(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        Some(1),
        EventType::OrderCreated,
        "https://slow.example/",
    )
    .await;
    map(
        store,
        &p,
        1,
        Some(2),
        EventType::OrderCreated,
        "https://fast.example/",
    )
    .await;
    let items = vec![
        item(
            EventType::OrderCreated,
            order(1, 1, 1, 1, "2026-01-01T00:00:00Z"),
        ),
        item(
            EventType::OrderCreated,
            order(2, 1, 2, 1, "2026-01-01T00:00:00Z"),
        ),
    ];
    ingest(store, items, T0).await;
    store.form_deliveries(LIMITS, T0).await.expect("form");
    let claimed = claim_skipping(store, T0, vec!["https://slow.example/".into()]).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].url, "https://fast.example/");
}

pub async fn released_leases_are_claimable(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(1, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        T0,
    )
    .await;
    store.form_deliveries(LIMITS, T0).await.expect("form");
    let claimed = claim_skipping(store, T0, vec![]).await;
    store
        .release_leases(&[HeldLease {
            event_id: claimed[0].event_id.clone(),
            lease_token: claimed[0].lease_token.clone(),
        }])
        .await
        .expect("release");
    assert_eq!(claim_skipping(store, T0 + 1, vec![]).await.len(), 1);
}

pub async fn deliveries_filter_and_page(store: &dyn Store) {
    let a = partner(store, "A").await;
    let b = partner(store, "B").await;
    map(
        store,
        &a,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    map(
        store,
        &b,
        1,
        None,
        EventType::OrderCreated,
        "https://b.example/",
    )
    .await;
    for id in 1..=3 {
        ingest(
            store,
            vec![item(
                EventType::OrderCreated,
                order(id, 1, id, 1, "2026-01-01T00:00:00Z"),
            )],
            T0,
        )
        .await;
    }
    store.form_deliveries(LIMITS, T0).await.expect("form");
    let only_a = DeliveryFilter {
        partner_id: Some(a.id.clone()),
        limit: 2,
        ..Default::default()
    };
    let page = store.list_deliveries(only_a.clone()).await.expect("list");
    assert_eq!(page.deliveries.len(), 2);
    assert!(page.deliveries.iter().all(|d| d.partner_id == a.id));
    let rest = store
        .list_deliveries(DeliveryFilter {
            before: page.next_cursor.clone(),
            ..only_a
        })
        .await
        .expect("next page");
    assert_eq!(rest.deliveries.len(), 1);
    assert!(rest.next_cursor.is_none());
    let by_order = store
        .list_deliveries(DeliveryFilter {
            order_id: Some(2),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("by order");
    assert_eq!(
        by_order.deliveries.len(),
        2,
        "order 2 went to both partners"
    );
    assert!(by_order.deliveries.iter().all(|d| d.order_ids == [2]));
    let dead = store
        .list_deliveries(DeliveryFilter {
            state: Some(DeliveryState::Dead),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("dead");
    assert!(dead.deliveries.is_empty());
}

pub async fn audit_is_written_with_the_action(store: &dyn Store) {
    let p = partner(store, "A").await;
    let failed = store
        .set_secret_hash(
            &IdKind::Partner.generate(),
            "x",
            audit("partner.secret_rotated"),
        )
        .await;
    assert!(failed.is_err());
    store
        .set_partner_enabled(&p.id, false, audit("partner.disabled"))
        .await
        .expect("disable");
    let page = |page: u32, size: u32| AuditQuery {
        page,
        size,
        ..AuditQuery::default()
    };
    let log = store.list_audit(page(1, 10)).await.expect("audit");
    let actions: Vec<&str> = log.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["partner.disabled", "partner.created"],
        "a failed action leaves no entry"
    );
    assert_eq!(log.total, 2);
    assert_eq!(
        store.list_audit(page(2, 1)).await.expect("page 2").entries[0].action,
        "partner.created"
    );
    // Filters narrow, and count what they match.
    let only = |actor: Option<&str>, action: Option<&str>, since: Option<Millis>| AuditQuery {
        actor: actor.map(str::to_owned),
        action: action.map(str::to_owned),
        since,
        ..page(1, 10)
    };
    let disabled = store
        .list_audit(only(None, Some("partner.disabled"), None))
        .await
        .expect("by action");
    assert_eq!((disabled.total, disabled.entries.len()), (1, 1));
    assert_eq!(disabled.entries[0].action, "partner.disabled");
    let actor = log.entries[0].actor.clone();
    let by_actor = store
        .list_audit(only(Some(&actor), None, None))
        .await
        .expect("by actor");
    assert_eq!(by_actor.total, 2);
    let nobody = store
        .list_audit(only(Some("nobody"), None, None))
        .await
        .expect("by another actor");
    assert_eq!(nobody.total, 0);
    let newest = log.entries[0].at;
    let since = store
        .list_audit(only(None, None, Some(newest + 1)))
        .await
        .expect("since");
    assert_eq!(since.total, 0, "nothing after the newest entry");
    let since = store
        .list_audit(only(None, None, Some(newest)))
        .await
        .expect("since");
    assert!(
        since.total >= 1,
        "the newest entry is at or after its own time"
    );
}

pub async fn operator_tokens_are_found_by_hash_until_revoked(store: &dyn Store) {
    let token = NewOperatorToken {
        name: "alice".into(),
        token_hash: "sha256:aa".into(),
        created_by: "root".into(),
        now: T0,
    };
    store
        .create_operator_token(token.clone(), audit("token.minted"))
        .await
        .expect("mint");
    let again = store
        .create_operator_token(token, audit("token.minted"))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))));
    assert_eq!(
        store
            .find_operator_token("sha256:aa")
            .await
            .expect("find")
            .expect("found")
            .name,
        "alice"
    );
    assert_eq!(store.list_operator_tokens().await.expect("list").len(), 1);
    store
        .revoke_operator_token("alice", audit("token.revoked"))
        .await
        .expect("revoke");
    assert!(
        store
            .find_operator_token("sha256:aa")
            .await
            .expect("find")
            .is_none()
    );
    let missing = store
        .revoke_operator_token("alice", audit("token.revoked"))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}

pub async fn partner_scope_follows_mappings(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        Some(2),
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    map(
        store,
        &p,
        5,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    let placed = |id: i64, brand: i64, branch: i64| {
        let mut o = order(id, brand, branch, 1, "2026-01-01T00:00:00Z");
        o.placed_at = Some(klikit_webhook::Timestamp::parse("2026-01-01T00:00:00Z").expect("time"));
        item(EventType::OrderCreated, o)
    };
    ingest(
        store,
        vec![
            placed(1, 1, 2),
            placed(2, 1, 3),
            placed(3, 5, 9),
            placed(4, 6, 2),
        ],
        T0,
    )
    .await;
    for (id, visible) in [(1, true), (2, false), (3, true), (4, false)] {
        let found = store.get_order_for_partner(&p.id, id).await.expect("get");
        assert_eq!(found.is_some(), visible, "order {id}");
    }
    let page = store
        .list_orders_for_partner(PartnerOrderQuery {
            partner_id: p.id.clone(),
            placed_from: 0,
            placed_to: i64::MAX,
            status: None,
            branch_id: None,
            page: 1,
            size: 10,
        })
        .await
        .expect("list");
    assert_eq!(page.total, 2);
}

pub async fn partner_change_commits_once_per_version(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        None,
        EventType::OrderStatusUpdated,
        "https://a.example/",
    )
    .await;
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(8, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        T0,
    )
    .await;
    let change = |key: &str| {
        let mut next = order(8, 1, 2, 2, "2026-01-01T00:05:00Z");
        next.version = Some(2);
        PartnerOrderChange {
            partner_id: p.id.clone(),
            expected_version: 1,
            order: next,
            event_type: EventType::OrderStatusUpdated,
            idempotency_scope: format!("partner:{}", p.id),
            idempotency_key: key.into(),
            answer: StoredAnswer {
                request_digest: "d".into(),
                status: 200,
                body: b"{}".to_vec(),
            },
            now: T0,
        }
    };
    store
        .commit_partner_change(change("k1"))
        .await
        .expect("commit");
    let stale = store.commit_partner_change(change("k2")).await;
    assert!(
        matches!(stale, Err(StoreError::Conflict(_))),
        "version 1 is gone"
    );
    let reused = store.commit_partner_change(change("k1")).await;
    assert!(
        matches!(reused, Err(StoreError::Conflict(_))),
        "the key is taken"
    );
    let answer = store
        .idempotent_answer(&format!("partner:{}", p.id), "k1")
        .await
        .expect("answer")
        .expect("kept");
    assert_eq!((answer.status, answer.body), (200, b"{}".to_vec()));
    assert_eq!(
        store
            .get_order(8)
            .await
            .expect("get")
            .expect("order")
            .version,
        2
    );
    store.form_deliveries(LIMITS, T0).await.expect("form");
    let claimed = claim(store, T0).await;
    assert_eq!(claimed.len(), 1, "the change emits a status webhook");
    assert_eq!(body_json(&claimed[0])["orders"][0]["status"], 2);
}

pub async fn delivery_stats_count_backlog_per_partner(store: &dyn Store) {
    let p = partner(store, "A").await;
    let quiet = partner(store, "B").await;
    map(
        store,
        &p,
        1,
        None,
        EventType::OrderCreated,
        "https://a.example/",
    )
    .await;
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(1, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        T0,
    )
    .await;
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(2, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        T0 + 5,
    )
    .await;
    store.form_deliveries(LIMITS, T0 + 10).await.expect("form");
    ingest(
        store,
        vec![item(
            EventType::OrderCreated,
            order(3, 1, 2, 1, "2026-01-01T00:00:00Z"),
        )],
        T0 + 20,
    )
    .await;
    let stats = store.delivery_stats().await.expect("stats");
    let a = stats.iter().find(|s| s.partner_id == p.id).expect("A");
    assert_eq!((a.pending, a.queued, a.dead), (1, 1, 0));
    assert_eq!(a.oldest_pending_at, Some(T0));
    let b = stats.iter().find(|s| s.partner_id == quiet.id).expect("B");
    assert_eq!((b.pending, b.queued, b.oldest_pending_at), (0, 0, None));
}

pub async fn claims_take_only_what_accept_admits(store: &dyn Store) {
    let p = partner(store, "A").await;
    map(
        store,
        &p,
        1,
        Some(1),
        EventType::OrderCreated,
        "https://busy.example/",
    )
    .await;
    map(
        store,
        &p,
        1,
        Some(2),
        EventType::OrderCreated,
        "https://idle.example/",
    )
    .await;
    let limits = BatchLimits {
        max_orders: 1,
        max_bytes: 1 << 20,
    };
    for id in 1..=4 {
        let branch = if id <= 3 { 1 } else { 2 };
        ingest(
            store,
            vec![item(
                EventType::OrderCreated,
                order(id, 1, branch, 1, "2026-01-01T00:00:00Z"),
            )],
            T0,
        )
        .await;
    }
    store.form_deliveries(limits, T0).await.expect("form");
    let mut busy_taken = 0;
    let claimed = store
        .claim_due(ClaimRequest {
            accept: Box::new(move |url| {
                if url.contains("busy") {
                    busy_taken += 1;
                    busy_taken <= 1
                } else {
                    true
                }
            }),
            ..claim_request(T0, 10, vec![])
        })
        .await
        .expect("claim");
    let mut urls: Vec<&str> = claimed.iter().map(|d| d.url.as_str()).collect();
    urls.sort();
    assert_eq!(
        urls,
        ["https://busy.example/", "https://idle.example/"],
        "one busy, the idle one"
    );
    assert!(
        claimed
            .iter()
            .all(|d| !d.body.is_empty() && !d.webhook_secret_encrypted.is_empty())
    );
    assert_eq!(
        claim(store, T0).await.len(),
        2,
        "what was not accepted stays claimable"
    );
}
