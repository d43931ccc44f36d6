//! The PostgreSQL store over TLS (rustls): `sslmode=require` encrypts, `verify-full`
//! checks the server's certificate against `sslrootcert` and its name against the
//! URL's host, and refuses when either does not match.
//!
//! The machine's PostgreSQL serves Debian's self-signed certificate for `localhost`
//! (`/etc/ssl/certs/ssl-cert-snakeoil.pem`); every connection here goes to loopback.
//! Needs `HOOKIT_TEST_DATABASE_URL`; without it the test says so and skips. A server
//! that does not offer TLS at all fails the test (say `ssl = on` in its configuration)
//! unless `HOOKIT_TEST_DATABASE_TLS=off` says it is known not to.

mod harness;

use harness::postgres::TestDatabase;
use hookit::store::Store;
use hookit::store::postgres::{PostgresSettings, PostgresStore};
use sqlx::Connection as _;
use std::time::Duration;

const SERVER_CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

fn settings(url: &str) -> PostgresSettings {
    PostgresSettings {
        url: url.to_owned(),
        pool_size: 2,
        statement_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
        schema: None,
    }
}

fn with_query(url: &str, host: &str, query: &str) -> String {
    let mut url = url::Url::parse(url).expect("test database URL");
    url.set_host(Some(host)).expect("a URL with a host");
    url.set_query(Some(query));
    url.to_string()
}

/// How many of the database's connections are encrypted, and how many there are.
async fn encrypted_connections(admin_url: &str, database: &str) -> (i64, i64) {
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to the test server");
    let row: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1",
    )
    .bind(database)
    .fetch_one(&mut admin)
    .await
    .expect("read pg_stat_ssl");
    let _ = admin.close().await;
    row
}

#[tokio::test]
async fn sslmode_require_encrypts_and_verify_full_checks_the_certificate_and_its_name() {
    let Some(db) = TestDatabase::create("tls").await else {
        return;
    };
    let admin_url = std::env::var(harness::postgres::TEST_DATABASE_URL).expect("set");
    let database = url::Url::parse(&db.url).expect("url").path()[1..].to_owned();
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("admin");
    let (ssl,): (String,) = sqlx::query_as("SHOW ssl")
        .fetch_one(&mut admin)
        .await
        .expect("SHOW ssl");
    let _ = admin.close().await;
    if ssl != "on" {
        let known_off = std::env::var("HOOKIT_TEST_DATABASE_TLS").is_ok_and(|v| v == "off");
        assert!(
            known_off,
            "the test server does not offer TLS (ssl = {ssl}); turn it on, or set \
             HOOKIT_TEST_DATABASE_TLS=off to skip this test"
        );
        eprintln!("SKIPPED: the test server does not offer TLS");
        return;
    }

    // require: encrypted, the certificate not checked.
    let require = with_query(&db.url, "127.0.0.1", "sslmode=require");
    let store = PostgresStore::open(&settings(&require))
        .await
        .expect("sslmode=require connects");
    store.ping().await.expect("a query over TLS");
    let (encrypted, all) = encrypted_connections(&admin_url, &database).await;
    assert!(all > 0, "the store holds a pooled connection after a query");
    assert_eq!(encrypted, all, "every connection of the store is encrypted");
    drop(store);

    // verify-full with the server's certificate as the root and the name it was made
    // for: connects, encrypted.
    let good = with_query(
        &db.url,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={SERVER_CERT}"),
    );
    let store = PostgresStore::open(&settings(&good))
        .await
        .expect("verify-full with the right root and name connects");
    store.ping().await.expect("a query over verified TLS");
    let (encrypted, all) = encrypted_connections(&admin_url, &database).await;
    assert!(
        all > 0 && encrypted == all,
        "{encrypted} of {all} encrypted"
    );
    drop(store);

    // verify-full against an address the certificate does not name: refused.
    let wrong_name = with_query(
        &db.url,
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={SERVER_CERT}"),
    );
    let refused = PostgresStore::open(&settings(&wrong_name)).await;
    eprintln!("WRONG NAME: {:?}", refused.as_ref().err());
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("not valid for name"),
        "a certificate for localhost must not pass for 127.0.0.1: {message:?}"
    );

    // verify-full without a root that trusts the self-signed certificate: refused.
    let untrusted = with_query(&db.url, "localhost", "sslmode=verify-full");
    let refused = PostgresStore::open(&settings(&untrusted)).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("UnknownIssuer"),
        "a self-signed certificate must not be trusted without sslrootcert: {message:?}"
    );
    // The error says what went wrong and never shows the URL's password.
    assert!(!message.contains("password="), "{message}");

    db.drop_now().await;
}
