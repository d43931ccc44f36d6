//! Concurrency limits: how many attempts may be in flight to one URL, to one host, and
//! to all slow hosts together.
//!
//! Each URL gets `per_url` slots (`HOOKIT_PER_URL_CONCURRENCY`); each host and port
//! gets [`HOST_FACTOR`] times that, so a receiver that hangs under many different paths
//! still cannot hold more than one host's share of the workers. Hosts that are slow —
//! the last attempt to them timed out or took over half the attempt timeout, one of
//! their attempts has been in flight that long, or they have not answered yet at all —
//! share one pool of `slow_pool` slots (`HOOKIT_SLOW_HOST_SHARE` of `HOOKIT_WORKERS`),
//! so however many hosts hang, the rest of the workers stay free for hosts that answer.
//!
//! The claim query skips saturated URLs and hosts (and, while the slow pool is full,
//! takes only hosts known to be fast); admission takes only deliveries that have room.
//! The counts are in-process only (each process limits its own attempts), the kind of
//! state a restarted process simply starts afresh.

use crate::store::host_of;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A host may have this many times a URL's slots in flight, across its URLs.
pub const HOST_FACTOR: usize = 4;

/// Hosts whose pace is remembered while nothing is in flight to them; past this, idle
/// ones are forgotten (and count as not yet answered again).
const REMEMBERED_HOSTS: usize = 10_000;

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
}

impl HostState {
    fn is_slow(&self, now: Instant, limits: &Limits) -> bool {
        self.pace != Some(Pace::Fast)
            || self
                .started
                .iter()
                .any(|at| now.saturating_duration_since(*at) > limits.slow_after)
    }
}

#[derive(Default)]
struct Counts {
    urls: HashMap<String, usize>,
    hosts: HashMap<String, HostState>,
}

impl Counts {
    fn url_in_flight(&self, url: &str) -> usize {
        self.urls.get(url).copied().unwrap_or(0)
    }

    fn host_in_flight(&self, host: &str) -> usize {
        self.hosts.get(host).map_or(0, |h| h.started.len())
    }

    /// A host never heard of has not answered yet, so it is slow.
    fn is_slow(&self, host: &str, now: Instant, limits: &Limits) -> bool {
        self.hosts
            .get(host)
            .is_none_or(|state| state.is_slow(now, limits))
    }

    fn slow_in_flight(&self, now: Instant, limits: &Limits) -> usize {
        self.hosts
            .values()
            .filter(|state| state.is_slow(now, limits))
            .map(|state| state.started.len())
            .sum()
    }

    fn leave(&mut self, url: &str, host: &str, started: Instant, pace: Option<Pace>) {
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
            if pace.is_some() {
                state.pace = pace;
            }
            if state.started.is_empty() && state.pace.is_none() {
                self.hosts.remove(host);
            }
        }
        if self.hosts.len() > REMEMBERED_HOSTS {
            self.hosts.retain(|_, state| !state.started.is_empty());
        }
    }
}

/// What the claim query should skip, and where it may look.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClaimFilter {
    /// URLs at their own limit, and every in-flight URL of a host at its share.
    pub saturated_urls: Vec<String>,
    /// Hosts at their share, and — while the slow pool is full — every known slow host.
    pub saturated_hosts: Vec<String>,
    /// While the slow pool is full: the hosts known to be fast that still have room.
    pub only_hosts: Option<Vec<String>>,
}

/// In-flight attempt counts by URL and by host, with each host's pace.
#[derive(Clone)]
pub struct UrlSlots {
    limits: Limits,
    counts: Arc<Mutex<Counts>>,
}

/// A held slot; dropping it frees the slot.
pub struct Slot {
    slots: UrlSlots,
    url: String,
    host: String,
    started: Instant,
    pace: Option<Pace>,
}

impl Slot {
    /// Frees the slot, remembering how the attempt went for its host.
    pub fn finish(mut self, pace: Pace) {
        self.pace = Some(pace);
    }
}

impl UrlSlots {
    pub fn new(limits: Limits) -> Self {
        UrlSlots {
            limits,
            counts: Arc::default(),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // A panic while holding this lock leaves only counters behind; keep going.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a slot for `url` if it, its host and (for a slow host) the slow pool have
    /// room.
    pub fn try_enter(&self, url: &str) -> Option<Slot> {
        let host = host_of(url);
        let now = Instant::now();
        let limits = &self.limits;
        let mut counts = self.counts();
        let room = counts.url_in_flight(url) < limits.per_url
            && counts.host_in_flight(&host) < limits.per_host
            && (!counts.is_slow(&host, now, limits)
                || counts.slow_in_flight(now, limits) < limits.slow_pool);
        if !room {
            return None;
        }
        *counts.urls.entry(url.to_owned()).or_default() += 1;
        counts
            .hosts
            .entry(host.clone())
            .or_default()
            .started
            .push(now);
        Some(Slot {
            slots: self.clone(),
            url: url.to_owned(),
            host,
            started: now,
            pace: None,
        })
    }

    /// A claim-time gate: answers, for each URL offered in turn, whether it would have
    /// room after those already accepted. Only the claimer takes slots, so the room
    /// counted here can only grow before the claimed deliveries enter.
    pub fn admission(&self) -> impl FnMut(&str) -> bool + Send + 'static {
        let slots = self.clone();
        let mut urls: HashMap<String, usize> = HashMap::new();
        let mut hosts: HashMap<String, usize> = HashMap::new();
        let mut slow = 0;
        move |url| {
            let host = host_of(url);
            let now = Instant::now();
            let limits = &slots.limits;
            let counts = slots.counts();
            let is_slow = counts.is_slow(&host, now, limits);
            let room = counts.url_in_flight(url) + urls.get(url).copied().unwrap_or(0)
                < limits.per_url
                && counts.host_in_flight(&host) + hosts.get(&host).copied().unwrap_or(0)
                    < limits.per_host
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
        let host_full = |host: &str| counts.host_in_flight(host) >= limits.per_host;
        let saturated_urls = counts
            .urls
            .iter()
            .filter(|(url, in_flight)| **in_flight >= limits.per_url || host_full(&host_of(url)))
            .map(|(url, _)| url.clone())
            .collect();
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
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots
            .counts()
            .leave(&self.url, &self.host, self.started, self.pace);
    }
}

#[cfg(test)]
mod tests;
