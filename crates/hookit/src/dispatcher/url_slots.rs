//! Concurrency limits: how many attempts may be in flight to one URL, to one host, and
//! to all slow hosts together — and the deliveries claimed ahead of a free slot.
//!
//! Each URL gets `per_url` slots (`HOOKIT_PER_URL_CONCURRENCY`); each host and port
//! gets [`HOST_FACTOR`] times that, so a receiver that hangs under many different paths
//! still cannot hold more than one host's share of the workers. Hosts that are slow —
//! the last attempt to them timed out or took over half the attempt timeout, one of
//! their attempts has been in flight that long, or they have not answered yet at all —
//! share one pool of `slow_pool` slots (`HOOKIT_SLOW_HOST_SHARE` of `HOOKIT_WORKERS`),
//! so however many hosts hang, the rest of the workers stay free for hosts that answer.
//!
//! **Claimed ahead.** A fast URL turns its slots over faster than the store can lease
//! one delivery per freed slot, so the claimer leases more than the slots hold and
//! keeps the rest here, per URL, until a slot frees: an attempt that ends starts the
//! next held one at once, without a round trip to the store. How many a URL may hold
//! follows its host's pace: about [`AHEAD_HORIZON`] of work at its recent attempt
//! duration, at most [`AHEAD_FACTOR`] times its slots, and none for a slow host (whose
//! deliveries are claimed only as slots free, as before). Everything held is bounded in
//! count and bytes ([`AHEAD_MAX`], [`AHEAD_MAX_BYTES`]); a held delivery whose lease
//! has too little left to cover an attempt is handed back instead of started.
//!
//! The claim query skips URLs and hosts with no room (in flight plus held), and, while
//! the slow pool is full, takes only hosts known to be fast; admission takes only
//! deliveries that have room. The counts are in-process only (each process limits its
//! own attempts), the kind of state a restarted process simply starts afresh.

use crate::store::host_of;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A host may have this many times a URL's slots in flight, across its URLs.
pub const HOST_FACTOR: usize = 4;

/// A fast URL holds at most this many times its slots claimed ahead.
pub const AHEAD_FACTOR: usize = 16;
/// A URL holds about this much work ahead, at its host's recent attempt duration.
pub const AHEAD_HORIZON: Duration = Duration::from_secs(1);
/// Most deliveries held ahead in all.
pub const AHEAD_MAX: usize = 2_048;
/// Most body bytes held ahead in all.
pub const AHEAD_MAX_BYTES: usize = 32 * 1024 * 1024;

/// Hosts whose pace is remembered while nothing is in flight to them; past this, idle
/// ones are forgotten (and count as not yet answered again).
const REMEMBERED_HOSTS: usize = 10_000;

/// The weight of the newest attempt in a host's running mean duration.
const PACE_WEIGHT: f64 = 0.2;

/// The limits, fixed at start.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_url: usize,
    pub per_host: usize,
    /// Most attempts in flight to slow hosts together.
    pub slow_pool: usize,
    /// An attempt that runs longer than this marks its host slow (half the timeout).
    pub slow_after: Duration,
}

impl Limits {
    /// The limits for `workers` workers, `per_url` slots per URL, a slow-host share of
    /// the workers and the attempt timeout.
    pub fn new(workers: usize, per_url: usize, slow_share: f64, attempt_timeout: Duration) -> Self {
        let per_url = per_url.max(1);
        Limits {
            per_url,
            per_host: per_url * HOST_FACTOR,
            slow_pool: ((workers as f64 * slow_share).floor() as usize).max(1),
            slow_after: attempt_timeout / 2,
        }
    }
}

/// How the last finished attempt to a host went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    Fast,
    Slow,
}

#[derive(Default, Clone)]
struct HostState {
    /// When each in-flight attempt started.
    started: Vec<Instant>,
    pace: Option<Pace>,
    /// Running mean of its recent attempts' durations, in seconds.
    mean_s: Option<f64>,
    /// Deliveries held ahead for its URLs.
    held: usize,
}

impl HostState {
    fn is_slow(&self, now: Instant, limits: &Limits) -> bool {
        self.pace != Some(Pace::Fast)
            || self
                .started
                .iter()
                .any(|at| now.saturating_duration_since(*at) > limits.slow_after)
    }

    /// How many times its slots each URL of this host may hold ahead: about
    /// [`AHEAD_HORIZON`] of work at its pace, none while it is slow.
    fn ahead_factor(&self, now: Instant, limits: &Limits) -> usize {
        if self.is_slow(now, limits) {
            return 0;
        }
        let horizon = AHEAD_HORIZON.as_secs_f64();
        let mean = self.mean_s.unwrap_or(horizon).max(1e-4);
        ((horizon / mean) as usize).min(AHEAD_FACTOR)
    }

    fn is_idle(&self) -> bool {
        self.started.is_empty() && self.held == 0
    }
}

/// A delivery claimed ahead, waiting for a slot.
struct Held<T> {
    item: T,
    bytes: usize,
    lease_ends: Instant,
}

/// The deliveries held for one URL, oldest first.
struct HeldForUrl<T> {
    host: String,
    queue: VecDeque<Held<T>>,
}

struct Counts<T> {
    /// Attempts in flight, by URL.
    urls: HashMap<String, usize>,
    hosts: HashMap<String, HostState>,
    held: HashMap<String, HeldForUrl<T>>,
    /// URLs with held deliveries, in the order they get the next free worker.
    turns: VecDeque<String>,
    held_count: usize,
    held_bytes: usize,
}

impl<T> Default for Counts<T> {
    fn default() -> Self {
        Counts {
            urls: HashMap::new(),
            hosts: HashMap::new(),
            held: HashMap::new(),
            turns: VecDeque::new(),
            held_count: 0,
            held_bytes: 0,
        }
    }
}

impl<T> Counts<T> {
    fn url_in_flight(&self, url: &str) -> usize {
        self.urls.get(url).copied().unwrap_or(0)
    }

    fn host_in_flight(&self, host: &str) -> usize {
        self.hosts.get(host).map_or(0, |h| h.started.len())
    }

    fn url_held(&self, url: &str) -> usize {
        self.held.get(url).map_or(0, |held| held.queue.len())
    }

    fn host_held(&self, host: &str) -> usize {
        self.hosts.get(host).map_or(0, |h| h.held)
    }

    /// A host never heard of has not answered yet, so it is slow.
    fn is_slow(&self, host: &str, now: Instant, limits: &Limits) -> bool {
        self.hosts
            .get(host)
            .is_none_or(|state| state.is_slow(now, limits))
    }

    fn ahead_factor(&self, host: &str, now: Instant, limits: &Limits) -> usize {
        self.hosts
            .get(host)
            .map_or(0, |state| state.ahead_factor(now, limits))
    }

    fn slow_in_flight(&self, now: Instant, limits: &Limits) -> usize {
        self.hosts
            .values()
            .filter(|state| state.is_slow(now, limits))
            .map(|state| state.started.len())
            .sum()
    }

    /// Whether an attempt to `url` could start now: its URL, its host and (for a slow
    /// host) the slow pool have a free slot.
    fn has_slot(&self, url: &str, host: &str, now: Instant, limits: &Limits) -> bool {
        self.url_in_flight(url) < limits.per_url
            && self.host_in_flight(host) < limits.per_host
            && (!self.is_slow(host, now, limits)
                || self.slow_in_flight(now, limits) < limits.slow_pool)
    }

    fn enter(&mut self, url: &str, host: &str, now: Instant) {
        *self.urls.entry(url.to_owned()).or_default() += 1;
        self.hosts
            .entry(host.to_owned())
            .or_default()
            .started
            .push(now);
    }

    fn leave(&mut self, url: &str, host: &str, started: Instant, ended: Option<(Pace, Duration)>) {
        if let Some(count) = self.urls.get_mut(url) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.urls.remove(url);
            }
        }
        if let Some(state) = self.hosts.get_mut(host) {
            if let Some(index) = state.started.iter().position(|at| *at == started) {
                state.started.swap_remove(index);
            }
            if let Some((pace, took)) = ended {
                state.pace = Some(pace);
                let took = took.as_secs_f64();
                state.mean_s = Some(match state.mean_s {
                    Some(mean) => mean + PACE_WEIGHT * (took - mean),
                    None => took,
                });
            }
            if state.is_idle() && state.pace.is_none() {
                self.hosts.remove(host);
            }
        }
        if self.hosts.len() > REMEMBERED_HOSTS {
            self.hosts.retain(|_, state| !state.is_idle());
        }
    }

    /// Takes the oldest delivery held for `url`.
    fn take_held(&mut self, url: &str) -> Option<Held<T>> {
        let held = self.held.get_mut(url)?;
        let taken = held.queue.pop_front()?;
        if let Some(state) = self.hosts.get_mut(&held.host) {
            state.held = state.held.saturating_sub(1);
        }
        if held.queue.is_empty() {
            self.held.remove(url);
        }
        self.held_count -= 1;
        self.held_bytes -= taken.bytes;
        Some(taken)
    }
}

/// What the next claim should skip, and where it may look.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClaimFilter {
    /// URLs with no room (in flight plus held), and every URL of a host with none.
    pub saturated_urls: Vec<String>,
    /// Hosts with no room, and — while the slow pool is full — every known slow host.
    pub saturated_hosts: Vec<String>,
    /// While the slow pool is full: the hosts known to be fast that still have room.
    pub only_hosts: Option<Vec<String>>,
}

/// What [`UrlSlots::take_ready`] found.
pub struct Ready<T> {
    /// The next held delivery with a free slot, and the slot.
    pub start: Option<(T, Slot<T>)>,
    /// Held deliveries whose leases had too little left: to hand back.
    pub expired: Vec<T>,
}

/// In-flight attempt counts by URL and by host, with each host's pace, and the
/// deliveries claimed ahead of a free slot.
pub struct UrlSlots<T> {
    limits: Limits,
    counts: Arc<Mutex<Counts<T>>>,
}

impl<T> Clone for UrlSlots<T> {
    fn clone(&self) -> Self {
        UrlSlots {
            limits: self.limits,
            counts: Arc::clone(&self.counts),
        }
    }
}

/// A held slot; dropping it frees the slot.
pub struct Slot<T> {
    slots: UrlSlots<T>,
    url: String,
    host: String,
    started: Instant,
    ended: Option<(Pace, Duration)>,
}

impl<T> Slot<T> {
    /// Frees the slot, remembering how the attempt went for its host.
    pub fn finish(mut self, pace: Pace, took: Duration) {
        self.ended = Some((pace, took));
    }
}

impl<T> UrlSlots<T> {
    pub fn new(limits: Limits) -> Self {
        UrlSlots {
            limits,
            counts: Arc::new(Mutex::new(Counts::default())),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts<T>> {
        // A panic while holding this lock leaves only counters behind; keep going.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn slot(&self, url: &str, host: String, started: Instant) -> Slot<T> {
        Slot {
            slots: self.clone(),
            url: url.to_owned(),
            host,
            started,
            ended: None,
        }
    }

    /// Takes a slot for `url` if it, its host and (for a slow host) the slow pool have
    /// room.
    #[cfg(test)]
    pub fn try_enter(&self, url: &str) -> Option<Slot<T>> {
        let host = host_of(url);
        let now = Instant::now();
        let mut counts = self.counts();
        if !counts.has_slot(url, &host, now, &self.limits) {
            return None;
        }
        counts.enter(url, &host, now);
        drop(counts);
        Some(self.slot(url, host, now))
    }

    /// A claim-time gate: answers, for each URL offered in turn, whether it has room
    /// — in flight plus held plus those already accepted, against its slots and what
    /// its host's pace lets it hold ahead. Only the claimer adds to these counts, so
    /// the room counted here can only grow before the claimed deliveries are held.
    pub fn admission(&self) -> impl FnMut(&str) -> bool + Send + 'static
    where
        T: Send + 'static,
    {
        let slots = self.clone();
        let mut urls: HashMap<String, usize> = HashMap::new();
        let mut hosts: HashMap<String, usize> = HashMap::new();
        // A claim offers the same few URLs many times, on the store's writer thread:
        // parse each one's host once.
        let mut host_of_url: HashMap<String, String> = HashMap::new();
        let mut slow = 0;
        move |url| {
            let host = match host_of_url.get(url) {
                Some(host) => host.clone(),
                None => {
                    let host = host_of(url);
                    host_of_url.insert(url.to_owned(), host.clone());
                    host
                }
            };
            let now = Instant::now();
            let limits = &slots.limits;
            let counts = slots.counts();
            let is_slow = counts.is_slow(&host, now, limits);
            let factor = 1 + counts.ahead_factor(&host, now, limits);
            let room = counts.url_in_flight(url)
                + counts.url_held(url)
                + urls.get(url).copied().unwrap_or(0)
                < limits.per_url * factor
                && counts.host_in_flight(&host)
                    + counts.host_held(&host)
                    + hosts.get(&host).copied().unwrap_or(0)
                    < limits.per_host * factor
                && (!is_slow || counts.slow_in_flight(now, limits) + slow < limits.slow_pool);
            drop(counts);
            if room {
                *urls.entry(url.to_owned()).or_default() += 1;
                *hosts.entry(host).or_default() += 1;
                slow += usize::from(is_slow);
            }
            room
        }
    }

    /// What the next claim should skip, and where it may look.
    pub fn claim_filter(&self) -> ClaimFilter {
        let now = Instant::now();
        let limits = &self.limits;
        let counts = self.counts();
        let host_full = |host: &str| {
            counts.host_in_flight(host) + counts.host_held(host)
                >= limits.per_host * (1 + counts.ahead_factor(host, now, limits))
        };
        let url_full = |url: &str, host: &str| {
            counts.url_in_flight(url) + counts.url_held(url)
                >= limits.per_url * (1 + counts.ahead_factor(host, now, limits))
                || host_full(host)
        };
        let mut saturated_urls: Vec<String> = counts
            .urls
            .keys()
            .filter(|url| !counts.held.contains_key(*url))
            .filter(|url| url_full(url, &host_of(url)))
            .cloned()
            .collect();
        saturated_urls.extend(
            counts
                .held
                .iter()
                .filter(|(url, held)| url_full(url, &held.host))
                .map(|(url, _)| url.clone()),
        );
        let pool_full = counts.slow_in_flight(now, limits) >= limits.slow_pool;
        let saturated_hosts = counts
            .hosts
            .iter()
            .filter(|(host, state)| host_full(host) || (pool_full && state.is_slow(now, limits)))
            .map(|(host, _)| host.clone())
            .collect();
        let only_hosts = pool_full.then(|| {
            counts
                .hosts
                .iter()
                .filter(|(host, state)| !state.is_slow(now, limits) && !host_full(host))
                .map(|(host, _)| host.clone())
                .collect()
        });
        ClaimFilter {
            saturated_urls,
            saturated_hosts,
            only_hosts,
        }
    }

    /// Holds a claimed delivery for `url` until a slot frees. Gives it back when
    /// everything held is already at [`AHEAD_MAX`] or [`AHEAD_MAX_BYTES`].
    pub fn hold(&self, url: &str, item: T, bytes: usize, lease_ends: Instant) -> Result<(), T> {
        let mut counts = self.counts();
        let full = counts.held_count >= AHEAD_MAX
            || (counts.held_count > 0 && counts.held_bytes + bytes > AHEAD_MAX_BYTES);
        if full {
            return Err(item);
        }
        let host = match counts.held.get(url) {
            Some(held) => held.host.clone(),
            None => host_of(url),
        };
        counts.hosts.entry(host.clone()).or_default().held += 1;
        counts.held_count += 1;
        counts.held_bytes += bytes;
        let held = counts
            .held
            .entry(url.to_owned())
            .or_insert_with(|| HeldForUrl {
                host,
                queue: VecDeque::new(),
            });
        held.queue.push_back(Held {
            item,
            bytes,
            lease_ends,
        });
        if held.queue.len() == 1 {
            counts.turns.push_back(url.to_owned());
        }
        Ok(())
    }

    /// The next held delivery that has a free slot, taking URLs in turn so each gets
    /// its share of the free workers; on the way, the held deliveries whose leases end
    /// within `min_left` (too soon for an attempt) are taken out to be handed back.
    pub fn take_ready(&self, now: Instant, min_left: Duration) -> Ready<T> {
        let limits = &self.limits;
        let mut counts = self.counts();
        let mut expired = Vec::new();
        for _ in 0..counts.turns.len() {
            let Some(url) = counts.turns.pop_front() else {
                break;
            };
            while counts
                .held
                .get(&url)
                .and_then(|held| held.queue.front())
                .is_some_and(|front| front.lease_ends.saturating_duration_since(now) < min_left)
            {
                expired.extend(counts.take_held(&url).map(|held| held.item));
            }
            let Some(host) = counts.held.get(&url).map(|held| held.host.clone()) else {
                continue;
            };
            if !counts.has_slot(&url, &host, now, limits) {
                counts.turns.push_back(url);
                continue;
            }
            let Some(held) = counts.take_held(&url) else {
                continue;
            };
            counts.enter(&url, &host, now);
            if counts.held.contains_key(&url) {
                counts.turns.push_back(url.clone());
            }
            drop(counts);
            return Ready {
                start: Some((held.item, self.slot(&url, host, now))),
                expired,
            };
        }
        Ready {
            start: None,
            expired,
        }
    }

    /// Takes out everything held (at shutdown, to hand the leases back).
    pub fn drain(&self) -> Vec<T> {
        let mut counts = self.counts();
        let urls: Vec<String> = counts.turns.drain(..).collect();
        let mut items = Vec::with_capacity(counts.held_count);
        for url in urls {
            while let Some(held) = counts.take_held(&url) {
                items.push(held.item);
            }
        }
        items
    }

    /// How many deliveries are held ahead.
    pub fn held(&self) -> usize {
        self.counts().held_count
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        self.slots
            .counts()
            .leave(&self.url, &self.host, self.started, self.ended);
    }
}

#[cfg(test)]
mod tests;
