//! A PostgreSQL database of a test's own, created on the server named by
//! `HOOKIT_TEST_DATABASE_URL` and dropped at the end, so tests and engineers sharing
//! one server never see each other's rows.

use sqlx::Connection as _;

/// The variable naming the test server, e.g. `postgres://postgres@127.0.0.1:5432/test`.
pub const TEST_DATABASE_URL: &str = "HOOKIT_TEST_DATABASE_URL";

/// A database created for one test.
pub struct TestDatabase {
    /// The URL of the new database, for `HOOKIT_DATABASE_URL`.
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates `hookit_<label>_<pid>_<nanos>`; `None` (after saying so on stderr) when
    /// `HOOKIT_TEST_DATABASE_URL` is unset, so the calling test can skip.
    pub async fn create(label: &str) -> Option<TestDatabase> {
        let Ok(admin_url) = std::env::var(TEST_DATABASE_URL) else {
            eprintln!(
                "SKIPPED: {label} needs PostgreSQL; set {TEST_DATABASE_URL} \
                 (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
            );
            return None;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("hookit_{label}_{}_{nanos}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to HOOKIT_TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("HOOKIT_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(TestDatabase {
            url: url.to_string(),
            admin_url,
            name,
        })
    }

    /// The database's URL with its host and port replaced, e.g. to go through a proxy.
    pub fn url_via(&self, address: std::net::SocketAddr) -> String {
        let mut url = url::Url::parse(&self.url).expect("test database URL");
        url.set_host(Some(&address.ip().to_string()))
            .expect("a URL with a host");
        url.set_port(Some(address.port()))
            .expect("a URL with a port");
        url.to_string()
    }

    /// Drops the database, closing whatever connections are still open to it.
    pub async fn drop_now(self) {
        drop_database(&self.admin_url, &self.name).await;
    }
}

impl Drop for TestDatabase {
    /// A test that failed before `drop_now` still removes its database (idempotent).
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(drop_database(&admin_url, &name));
            }
        })
        .join();
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await else {
        return;
    };
    let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    if let Err(err) = sqlx::query(&statement).execute(&mut admin).await {
        eprintln!("could not drop test database {name}: {err}");
    }
    let _ = admin.close().await;
}
