//! The group's own rules on a plain connection: one write's failure stays its own, and a
//! failed COMMIT fails every write it held.

use super::*;
use tokio::sync::oneshot;

type Answer = oneshot::Receiver<StoreResult<i64>>;

fn database() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = Connection::open(dir.path().join("group.db")).expect("open");
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY,
                             parent_id INTEGER NOT NULL REFERENCES parent (id));
         INSERT INTO parent (id) VALUES (1);",
    )
    .expect("schema");
    (dir, conn)
}

fn write<F>(work: F) -> (Box<dyn Pending>, Answer)
where
    F: FnOnce(&Transaction<'_>) -> StoreResult<i64> + Send + 'static,
{
    let (answer, answered) = oneshot::channel();
    (Box::new(Write { work, answer }), answered)
}

fn insert_child(id: i64, parent: i64) -> (Box<dyn Pending>, Answer) {
    write(move |tx| {
        tx.execute(
            "INSERT INTO child (id, parent_id) VALUES (?1, ?2)",
            [id, parent],
        )?;
        Ok(id)
    })
}

fn children(conn: &Connection) -> Vec<i64> {
    let mut stmt = conn
        .prepare("SELECT id FROM child ORDER BY id")
        .expect("prepare");
    stmt.query_map([], |row| row.get(0))
        .expect("query")
        .collect::<rusqlite::Result<Vec<i64>>>()
        .expect("rows")
}

fn answer(mut answered: Answer) -> StoreResult<i64> {
    answered.try_recv().expect("every write is answered")
}

#[test]
fn a_failing_write_rolls_back_alone() {
    let (_dir, conn) = database();
    let (first, first_answer) = insert_child(10, 1);
    // Writes a row, then fails: its row must not survive beside the others.
    let (failing, failing_answer) = write(|tx| {
        tx.execute("INSERT INTO child (id, parent_id) VALUES (20, 1)", [])?;
        Err(StoreError::Conflict("refused on its own".into()))
    });
    let (last, last_answer) = insert_child(30, 1);
    let commits = commit_group(&conn, vec![first, failing, last], &AtomicU64::new(0));
    assert_eq!(commits, 1);
    assert_eq!(answer(first_answer).expect("first"), 10);
    assert!(matches!(
        answer(failing_answer),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(answer(last_answer).expect("last"), 30);
    assert_eq!(children(&conn), vec![10, 30]);
}

#[test]
fn a_failed_commit_fails_every_write_in_it() {
    let (_dir, conn) = database();
    let (first, first_answer) = insert_child(10, 1);
    // A deferred foreign key is only checked at COMMIT: the statement succeeds, the
    // write succeeds, and the commit of the whole group is refused by SQLite.
    let (deferred, deferred_answer) = write(|tx| {
        tx.execute_batch("PRAGMA defer_foreign_keys = ON")?;
        tx.execute("INSERT INTO child (id, parent_id) VALUES (20, 999)", [])?;
        Ok(20)
    });
    let (last, last_answer) = insert_child(30, 1);
    let commits = commit_group(&conn, vec![first, deferred, last], &AtomicU64::new(0));
    assert_eq!(commits, 0);
    for answered in [first_answer, deferred_answer, last_answer] {
        let err = answer(answered).expect_err("the commit failed");
        assert!(
            err.to_string()
                .contains("the commit holding this write failed"),
            "{err}"
        );
    }
    assert!(children(&conn).is_empty());
    assert!(
        conn.is_autocommit(),
        "the failed transaction was rolled back"
    );
    // The connection is usable for the next group.
    let (next, next_answer) = insert_child(40, 1);
    assert_eq!(commit_group(&conn, vec![next], &AtomicU64::new(0)), 1);
    assert_eq!(answer(next_answer).expect("next"), 40);
    assert_eq!(children(&conn), vec![40]);
}

#[test]
fn a_panicking_write_is_answered_and_rolled_back() {
    let (_dir, conn) = database();
    let (panicking, panicking_answer) = write(|tx| {
        tx.execute("INSERT INTO child (id, parent_id) VALUES (20, 1)", [])?;
        panic!("a bug in one write");
    });
    let (last, last_answer) = insert_child(30, 1);
    assert_eq!(
        commit_group(&conn, vec![panicking, last], &AtomicU64::new(0)),
        1
    );
    assert!(answer(panicking_answer).is_err());
    assert_eq!(answer(last_answer).expect("last"), 30);
    assert_eq!(children(&conn), vec![30]);
}

#[test]
fn the_strongest_durability_is_the_acknowledged_one() {
    assert!(Durability::Acknowledged > Durability::Bookkeeping);
}
