//! Group commit: concurrent writes share one transaction and one fsync.
//!
//! One thread owns the writing connection. Callers queue a write and wait for its
//! answer; the thread takes everything queued (up to [`MAX_GROUP_WRITES`] writes or
//! [`MAX_GROUP_WEIGHT`] order changes), runs each write in a savepoint of one
//! `BEGIN IMMEDIATE` transaction and commits once. No write waits on purpose: a group
//! is what arrived while the previous commit was running, so a lone write commits at
//! once and a busy writer commits many at a time.
//!
//! - A write that fails on its own is rolled back to its savepoint and answered with
//!   its error at once; the others of its group go on.
//! - A write that succeeded is answered only after the commit that holds it returned,
//!   so an answer never runs ahead of the disk. If the commit fails, every write in it
//!   is answered with that failure.
//! - A group commits with the strongest durability any of its writes asked for.
//! - The dispatcher's writes queue in a lane of their own that is drained first, so a
//!   stream of ingest requests delays a lease or an outcome by one commit at most.

use super::Durability;
use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// The most writes one commit holds.
pub(super) const MAX_GROUP_WRITES: usize = 128;
/// The most order changes (a write's weight) one commit takes before it closes.
pub(super) const MAX_GROUP_WEIGHT: usize = 2_000;

/// Which queue a write waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    /// Leases, outcomes and batching: drained first.
    Dispatcher,
    /// Everything the APIs acknowledge.
    Requests,
}

/// What a write needs from the group once it ran.
trait Applied: Send {
    /// Answers the caller with the fate of the commit that held the write.
    fn settle(self: Box<Self>, commit: Result<(), &str>);
}

/// A queued write, its result type erased.
trait Pending: Send {
    /// Runs the write in its own savepoint. `None` when it failed and was answered.
    fn apply(self: Box<Self>, tx: &Transaction<'_>) -> Option<Box<dyn Applied>>;
    /// Answers without running: the group could not start.
    fn refuse(self: Box<Self>, reason: &str);
}

struct Write<T, F> {
    work: F,
    answer: tokio::sync::oneshot::Sender<StoreResult<T>>,
}

struct Done<T> {
    value: T,
    answer: tokio::sync::oneshot::Sender<StoreResult<T>>,
}

fn commit_failed(reason: &str) -> StoreError {
    StoreError::Backend(format!(
        "the commit holding this write failed, nothing of it was stored: {reason}"
    ))
}

impl<T: Send + 'static> Applied for Done<T> {
    fn settle(self: Box<Self>, commit: Result<(), &str>) {
        let Done { value, answer } = *self;
        let _ = answer.send(commit.map(|()| value).map_err(commit_failed));
    }
}

impl<T, F> Pending for Write<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
{
    fn apply(self: Box<Self>, tx: &Transaction<'_>) -> Option<Box<dyn Applied>> {
        let Write { work, answer } = *self;
        if let Err(err) = tx.execute_batch("SAVEPOINT write") {
            let _ = answer.send(Err(err.into()));
            return None;
        }
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| work(tx)))
            .unwrap_or_else(|_| Err(StoreError::Backend("a store write panicked".into())));
        let kept = ran.and_then(|value| {
            tx.execute_batch("RELEASE write")?;
            Ok(value)
        });
        match kept {
            Ok(value) => Some(Box::new(Done { value, answer })),
            Err(err) => {
                // When SQLite already ended the transaction there is no savepoint left;
                // the group sees that and fails the writes before this one.
                if !tx.is_autocommit() {
                    let _ = tx.execute_batch("ROLLBACK TO write; RELEASE write");
                }
                let _ = answer.send(Err(err));
                None
            }
        }
    }

    fn refuse(self: Box<Self>, reason: &str) {
        let _ = self.answer.send(Err(commit_failed(reason)));
    }
}

struct Queued {
    durability: Durability,
    weight: usize,
    write: Box<dyn Pending>,
}

#[derive(Default)]
struct Queues {
    dispatcher: VecDeque<Queued>,
    requests: VecDeque<Queued>,
    closed: bool,
}

struct Shared {
    queues: Mutex<Queues>,
    wake: Condvar,
    commits: AtomicU64,
}

/// The writing connection's thread and the queues in front of it.
pub(super) struct GroupWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Disconnected once the thread has closed the connection.
    closed: Mutex<std::sync::mpsc::Receiver<()>>,
}

/// How long dropping the writer waits for its thread to finish what is queued and
/// close the connection. A thread still stuck behind a lock another process holds is
/// left behind (the process is exiting); the WAL is then checkpointed on next open.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl GroupWriter {
    /// Hands `conn` (configured with `synchronous = FULL`) to a writer thread.
    pub(super) fn start(conn: Connection) -> StoreResult<GroupWriter> {
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            wake: Condvar::new(),
            commits: AtomicU64::new(0),
        });
        let for_thread = Arc::clone(&shared);
        let (closing, closed) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("hookit-store-writer".into())
            .spawn(move || {
                run_writer(conn, &for_thread);
                drop(closing);
            })
            .map_err(|err| StoreError::Backend(format!("cannot start the store writer: {err}")))?;
        Ok(GroupWriter {
            shared,
            thread: Some(thread),
            closed: Mutex::new(closed),
        })
    }

    /// Commits made so far.
    pub(super) fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// Queues `work` and waits until the commit holding it is done. `weight` is how
    /// many order changes it writes (1 for anything else).
    pub(super) async fn write<T, F>(
        &self,
        lane: Lane,
        durability: Durability,
        weight: usize,
        work: F,
    ) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let queued = Queued {
            durability,
            weight: weight.max(1),
            write: Box::new(Write { work, answer }),
        };
        {
            let mut queues =
                self.shared.queues.lock().map_err(|_| {
                    StoreError::Backend("the store writer's queue is poisoned".into())
                })?;
            if queues.closed {
                return Err(StoreError::Backend("the store is closing".into()));
            }
            match lane {
                Lane::Dispatcher => queues.dispatcher.push_back(queued),
                Lane::Requests => queues.requests.push_back(queued),
            }
        }
        self.shared.wake.notify_one();
        answered
            .await
            .map_err(|_| StoreError::Backend("the store writer stopped".into()))?
    }
}

impl Drop for GroupWriter {
    /// Lets the thread finish what is queued and close the connection (which
    /// checkpoints and removes the WAL), and waits for it, at most [`CLOSE_WAIT`].
    fn drop(&mut self) {
        if let Ok(mut queues) = self.shared.queues.lock() {
            queues.closed = true;
        }
        self.shared.wake.notify_one();
        let closed = match self.closed.get_mut() {
            Ok(closed) => closed.recv_timeout(CLOSE_WAIT),
            Err(poisoned) => poisoned.into_inner().recv_timeout(CLOSE_WAIT),
        };
        match closed {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    "the store writer is still blocked (is another process holding the database's write lock?); closing without waiting for it"
                );
            }
            _ => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
        }
    }
}

fn run_writer(conn: Connection, shared: &Shared) {
    let mut durability = Durability::Acknowledged;
    while let Some(group) = next_group(shared) {
        let strongest = group
            .iter()
            .map(|q| q.durability)
            .max()
            .unwrap_or(Durability::Acknowledged);
        if strongest != durability {
            if let Err(err) = conn.pragma_update(None, "synchronous", strongest.synchronous()) {
                let reason = format!("cannot set synchronous: {err}");
                group.into_iter().for_each(|q| q.write.refuse(&reason));
                continue;
            }
            durability = strongest;
        }
        commit_group(
            &conn,
            group.into_iter().map(|q| q.write).collect(),
            &shared.commits,
        );
    }
}

/// Waits for writes and takes the next group: the dispatcher's lane first, then the
/// requests, within the bounds. `None` once closed and empty.
fn next_group(shared: &Shared) -> Option<Vec<Queued>> {
    let mut queues = shared.queues.lock().ok()?;
    while queues.dispatcher.is_empty() && queues.requests.is_empty() {
        if queues.closed {
            return None;
        }
        queues = shared.wake.wait(queues).ok()?;
    }
    let mut group = Vec::new();
    let mut weight = 0;
    while group.len() < MAX_GROUP_WRITES && weight < MAX_GROUP_WEIGHT {
        let Some(next) = queues
            .dispatcher
            .pop_front()
            .or_else(|| queues.requests.pop_front())
        else {
            break;
        };
        weight += next.weight;
        group.push(next);
    }
    Some(group)
}

/// Runs the writes in as few transactions as it can (one, unless SQLite ends one on
/// a failure) and returns how many commits succeeded. Each is counted in `counter`
/// before its writes are answered, so a caller that saw its answer sees the count.
fn commit_group(conn: &Connection, writes: Vec<Box<dyn Pending>>, counter: &AtomicU64) -> u64 {
    let mut writes: VecDeque<Box<dyn Pending>> = writes.into();
    let mut commits = 0;
    while !writes.is_empty() {
        let tx = match Transaction::new_unchecked(conn, TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(err) => {
                let reason = format!("cannot begin a transaction: {err}");
                writes.into_iter().for_each(|w| w.refuse(&reason));
                return commits;
            }
        };
        let mut applied = Vec::with_capacity(writes.len());
        let mut ended = false;
        while let Some(write) = writes.pop_front() {
            applied.extend(write.apply(&tx));
            if tx.is_autocommit() {
                ended = true;
                break;
            }
        }
        let outcome = if ended {
            Err("SQLite rolled the transaction back after a failed statement".to_owned())
        } else {
            tx.commit().map_err(|err| err.to_string())
        };
        if outcome.is_ok() {
            commits += 1;
            counter.fetch_add(1, Ordering::Relaxed);
        }
        for write in applied {
            write.settle(outcome.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
    commits
}

#[cfg(test)]
mod tests;
