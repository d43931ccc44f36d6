//! Every file hookit creates is owner-only — 0700 directories, 0600 files — and what an
//! older version left wider is tightened at start and logged by path.
#![cfg(unix)]

mod harness;

use harness::Serve;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// Waits until SQLite has created the `-wal` and `-shm` files beside `db`.
async fn wait_for_sqlite_files(db: &Path) {
    harness::eventually(WAIT, "the -wal and -shm files", || {
        (with_suffix(db, "-wal").exists() && with_suffix(db, "-shm").exists()).then_some(())
    })
    .await;
}

fn assert_owner_only(paths: &[PathBuf], mode: u32) {
    for path in paths {
        assert_eq!(
            mode_of(path),
            mode,
            "{} is {:04o}",
            path.display(),
            mode_of(path)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_creates_its_data_dir_database_and_secrets_owner_only() {
    let temp = tempfile::tempdir().expect("dir");
    let data = temp.path().join("fresh");
    let serve = Serve::start_without_tokens(&data, &harness::fast_env());
    let db = data.join("hookit.db");
    wait_for_sqlite_files(&db).await;
    assert_owner_only(std::slice::from_ref(&data), 0o700);
    assert_owner_only(
        &[
            db.clone(),
            with_suffix(&db, "-wal"),
            with_suffix(&db, "-shm"),
            data.join("operator-token"),
            data.join("ingest-token"),
            data.join("master-key"),
        ],
        0o600,
    );
    drop(serve);
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_tightens_what_an_older_version_left_open_and_says_so() {
    let temp = tempfile::tempdir().expect("dir");
    let data = temp.path().join("old");
    std::fs::create_dir(&data).expect("mkdir");
    set_mode(&data, 0o755);
    let db = data.join("hookit.db");
    std::fs::write(&db, b"").expect("an empty file is an empty SQLite database");
    set_mode(&db, 0o644);
    let serve = Serve::start(&data, &harness::fast_env());
    wait_for_sqlite_files(&db).await;
    assert_owner_only(std::slice::from_ref(&data), 0o700);
    assert_owner_only(
        &[
            db.clone(),
            with_suffix(&db, "-wal"),
            with_suffix(&db, "-shm"),
        ],
        0o600,
    );
    let log = serve.log_text();
    for path in [&data, &db] {
        let named = format!("path={}", path.display());
        assert!(
            log.lines()
                .any(|line| line.contains("tightened") && line.contains(&named)),
            "the log names {}: {log}",
            path.display()
        );
    }
}

/// Starts `hookit listen` with `args` and returns it once it listens, with the
/// stderr lines read so far.
fn start_listen(args: &[&str]) -> (std::process::Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookit"))
        .args(["listen", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("KLIKIT_WEBHOOK_SECRET", "whsk_test_0123456789abcdef")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hookit listen");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        let listening = line.contains("listening on http://");
        lines.push(line);
        if listening {
            return (child, lines);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("hookit listen did not start: {lines:?}");
}

#[test]
fn listen_keeps_its_dedupe_database_owner_only() {
    let temp = tempfile::tempdir().expect("dir");
    let fresh = temp.path().join("seen.db");
    let (mut child, _) = start_listen(&["--dedupe-db", fresh.to_str().expect("utf-8")]);
    let _ = child.kill();
    let _ = child.wait();
    assert_owner_only(std::slice::from_ref(&fresh), 0o600);

    let old = temp.path().join("old-seen.db");
    std::fs::write(&old, b"").expect("write");
    set_mode(&old, 0o644);
    let (mut child, lines) = start_listen(&["--dedupe-db", old.to_str().expect("utf-8")]);
    let _ = child.kill();
    let _ = child.wait();
    assert_owner_only(std::slice::from_ref(&old), 0o600);
    assert!(
        lines
            .iter()
            .any(|line| line.contains(&old.display().to_string()) && line.contains("owner-only")),
        "{lines:?}"
    );
}

#[test]
fn demo_makes_its_data_dir_owner_only() {
    let temp = tempfile::tempdir().expect("dir");
    let data = temp.path().join("demo-data");
    let output = Command::new(env!("CARGO_BIN_EXE_hookit"))
        .args(["demo", "--orders", "50", "--timeout", "45", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::null())
        .output()
        .expect("run hookit demo");
    assert!(
        output.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_owner_only(std::slice::from_ref(&data), 0o700);
    assert_owner_only(&[data.join("hookit.db")], 0o600);
}
