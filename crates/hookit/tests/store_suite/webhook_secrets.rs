//! Webhook-secret rotation with a grace window, and the partner's signature scheme:
//! what the store keeps and what a claim hands the dispatcher.

use super::*;

const URL: &str = "https://hooks.example.com/klikit";

/// A partner mapped for status updates of brand 1, with one delivery formed at `T0`.
async fn partner_with_a_delivery(store: &dyn Store) -> Partner {
    let p = partner(store, "Rotating").await;
    map(store, &p, 1, Some(10), EventType::OrderStatusUpdated, URL).await;
    let change = order(1, 1, 10, 2, "2027-01-15T08:00:00Z");
    ingest(store, vec![item(EventType::OrderStatusUpdated, change)], T0).await;
    store.form_deliveries(LIMITS, T0).await.expect("form");
    p
}

async fn rotate(
    store: &dyn Store,
    p: &Partner,
    encrypted: &[u8],
    switch_at: Option<Millis>,
    at: Millis,
) -> Partner {
    store
        .set_webhook_secret(
            &p.id,
            WebhookSecretRotation {
                encrypted: encrypted.to_vec(),
                switch_at,
            },
            AuditEntry {
                at,
                ..audit("partner.webhook_secret_rotated")
            },
        )
        .await
        .expect("rotate")
}

async fn claim_one(store: &dyn Store, now: Millis) -> ClaimedDelivery {
    let mut claimed = claim(store, now).await;
    assert_eq!(claimed.len(), 1, "one delivery is due at {now}");
    claimed.remove(0)
}

pub async fn a_grace_rotation_keeps_the_previous_secret_until_the_switch(store: &dyn Store) {
    let p = partner_with_a_delivery(store).await;
    let switch_at = T0 + 60_000;
    let rotated = rotate(store, &p, &[4, 4], Some(switch_at), T0 + 1).await;
    assert_eq!(rotated.webhook_secret_switch_at, Some(switch_at));
    assert_eq!(rotated.updated_at, T0 + 1);
    assert_eq!(
        store.get_partner(&p.id).await.expect("get"),
        rotated,
        "the switch time is kept"
    );

    let during = claim_one(store, T0 + 10).await;
    assert_eq!(during.webhook_secret_encrypted, vec![4, 4], "the newest");
    assert_eq!(
        during.previous_webhook_secret_encrypted,
        Some(vec![1, 2, 3]),
        "the secret that signed before the rotation"
    );
    assert_eq!(during.webhook_secret_switch_at, Some(switch_at));

    // Claimed again (its 30 s lease expired) once the window has closed: the previous
    // secret is no longer handed out.
    let after = claim_one(store, switch_at + 30_000).await;
    assert_eq!(after.webhook_secret_encrypted, vec![4, 4]);
    assert_eq!(after.previous_webhook_secret_encrypted, None);
}

pub async fn a_rotation_inside_a_grace_window_ends_it(store: &dyn Store) {
    let p = partner_with_a_delivery(store).await;
    rotate(store, &p, &[2, 2], Some(T0 + 60_000), T0 + 1).await;
    let second = rotate(store, &p, &[3, 3], Some(T0 + 120_000), T0 + 2).await;
    assert_eq!(second.webhook_secret_switch_at, Some(T0 + 120_000));

    let claimed = claim_one(store, T0 + 10).await;
    assert_eq!(claimed.webhook_secret_encrypted, vec![3, 3]);
    assert_eq!(
        claimed.previous_webhook_secret_encrypted,
        Some(vec![2, 2]),
        "the first window ended: the secret it led to signs now, the original is gone"
    );
    assert_eq!(claimed.webhook_secret_switch_at, Some(T0 + 120_000));
}

pub async fn a_rotation_without_grace_forgets_the_previous_secret(store: &dyn Store) {
    let p = partner_with_a_delivery(store).await;
    rotate(store, &p, &[2, 2], Some(T0 + 60_000), T0 + 1).await;
    let immediate = rotate(store, &p, &[3, 3], None, T0 + 2).await;
    assert_eq!(immediate.webhook_secret_switch_at, None);

    let claimed = claim_one(store, T0 + 10).await;
    assert_eq!(claimed.webhook_secret_encrypted, vec![3, 3]);
    assert_eq!(claimed.previous_webhook_secret_encrypted, None);
    assert_eq!(claimed.webhook_secret_switch_at, None);

    let missing = store
        .set_webhook_secret(
            &IdKind::Partner.generate(),
            WebhookSecretRotation {
                encrypted: vec![1],
                switch_at: Some(T0 + 1),
            },
            audit("partner.webhook_secret_rotated"),
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}

pub async fn the_signature_scheme_is_kept_and_changed(store: &dyn Store) {
    let created = store
        .create_partner(
            NewPartner {
                id: IdKind::Partner.generate(),
                name: "Standard".into(),
                partner_key: format!("pk_{}", IdKind::Request.generate()),
                secret_hash: "sha256:00".into(),
                webhook_secret_encrypted: vec![1, 2, 3],
                signature_scheme: SignatureScheme::KlikitStandard,
                now: T0,
            },
            audit("partner.created"),
        )
        .await
        .expect("create");
    assert_eq!(created.signature_scheme, SignatureScheme::KlikitStandard);
    assert_eq!(created.webhook_secret_switch_at, None);
    map(
        store,
        &created,
        1,
        Some(10),
        EventType::OrderStatusUpdated,
        URL,
    )
    .await;
    let change = order(1, 1, 10, 2, "2027-01-15T08:00:00Z");
    ingest(store, vec![item(EventType::OrderStatusUpdated, change)], T0).await;
    store.form_deliveries(LIMITS, T0).await.expect("form");
    let claimed = claim_one(store, T0 + 10).await;
    assert_eq!(claimed.signature_scheme, SignatureScheme::KlikitStandard);

    let update = |scheme| PartnerUpdate {
        signature_scheme: scheme,
    };
    let at = |at| AuditEntry {
        at,
        ..audit("partner.updated")
    };
    let changed = store
        .update_partner(
            &created.id,
            update(Some(SignatureScheme::Klikit)),
            at(T0 + 5),
        )
        .await
        .expect("update");
    assert_eq!(changed.signature_scheme, SignatureScheme::Klikit);
    assert_eq!(changed.updated_at, T0 + 5);
    let unchanged = store
        .update_partner(&created.id, update(None), at(T0 + 6))
        .await
        .expect("empty update");
    assert_eq!(unchanged.signature_scheme, SignatureScheme::Klikit);
    assert_eq!(
        store.get_partner(&created.id).await.expect("get"),
        unchanged
    );
    let listed = store.list_partners().await.expect("list");
    assert_eq!(listed[0].signature_scheme, SignatureScheme::Klikit);

    let missing = store
        .update_partner(&IdKind::Partner.generate(), update(None), at(T0 + 7))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}
