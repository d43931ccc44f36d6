//! Concurrency limits: how many attempts may be in flight to one URL, and to one host.
//!
//! Each URL gets `per_url` slots (`HOOKIT_PER_URL_CONCURRENCY`); each host and port
//! gets [`HOST_FACTOR`] times that, so a receiver that hangs under many different paths
//! still cannot hold more than one host's share of the workers. The claim query skips
//! saturated URLs, and admission takes only deliveries that have room; the counts are
//! in-process only (each process limits its own attempts), the kind of state a
//! restarted process simply starts afresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A host may have this many times a URL's slots in flight, across its URLs.
pub const HOST_FACTOR: usize = 4;

/// In-flight attempt counts by URL and by host.
#[derive(Clone)]
pub struct UrlSlots {
    per_url: usize,
    per_host: usize,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    urls: HashMap<String, usize>,
    hosts: HashMap<String, usize>,
}

/// A held slot; dropping it frees the slot.
pub struct Slot {
    slots: UrlSlots,
    url: String,
    host: String,
}

/// The host and port a URL connects to.
fn host_key(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!(
            "{}:{}",
            parsed.host_str().unwrap_or_default(),
            parsed.port_or_known_default().unwrap_or_default()
        ),
        Err(_) => url.to_owned(),
    }
}

impl Counts {
    fn has_room(&self, url: &str, host: &str, per_url: usize, per_host: usize) -> bool {
        self.urls.get(url).copied().unwrap_or(0) < per_url
            && self.hosts.get(host).copied().unwrap_or(0) < per_host
    }

    fn enter(&mut self, url: &str, host: &str) {
        *self.urls.entry(url.to_owned()).or_default() += 1;
        *self.hosts.entry(host.to_owned()).or_default() += 1;
    }

    fn leave(&mut self, url: &str, host: &str) {
        for (map, key) in [(&mut self.urls, url), (&mut self.hosts, host)] {
            if let Some(count) = map.get_mut(key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    map.remove(key);
                }
            }
        }
    }
}

impl UrlSlots {
    /// Slots allowing `per_url` concurrent attempts per URL (and [`HOST_FACTOR`] times
    /// that per host).
    pub fn new(per_url: usize) -> Self {
        let per_url = per_url.max(1);
        UrlSlots {
            per_url,
            per_host: per_url * HOST_FACTOR,
            counts: Arc::default(),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // A panic while holding this lock leaves only counters behind; keep going.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a slot for `url` if both it and its host have room.
    pub fn try_enter(&self, url: &str) -> Option<Slot> {
        let host = host_key(url);
        let mut counts = self.counts();
        if !counts.has_room(url, &host, self.per_url, self.per_host) {
            return None;
        }
        counts.enter(url, &host);
        Some(Slot {
            slots: self.clone(),
            url: url.to_owned(),
            host,
        })
    }

    /// A claim-time gate: answers, for each URL offered in turn, whether it would have
    /// room after those already accepted. Only the claimer takes slots, so the room
    /// counted here can only grow before the claimed deliveries enter.
    pub fn admission(&self) -> impl FnMut(&str) -> bool + Send + 'static {
        let (per_url, per_host) = (self.per_url, self.per_host);
        let mut counts = {
            let current = self.counts();
            Counts {
                urls: current.urls.clone(),
                hosts: current.hosts.clone(),
            }
        };
        move |url| {
            let host = host_key(url);
            let room = counts.has_room(url, &host, per_url, per_host);
            if room {
                counts.enter(url, &host);
            }
            room
        }
    }

    /// The URLs that cannot take another attempt now: those at their own limit, and
    /// every in-flight URL of a host at its share. (A saturated host's other URLs are
    /// not known here; admission turns them away.)
    pub fn saturated_urls(&self) -> Vec<String> {
        let counts = self.counts();
        counts
            .urls
            .iter()
            .filter(|(url, in_flight)| {
                **in_flight >= self.per_url
                    || counts.hosts.get(&host_key(url)).copied().unwrap_or(0) >= self.per_host
            })
            .map(|(url, _)| url.clone())
            .collect()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.counts().leave(&self.url, &self.host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_gets_its_limit_and_a_host_its_share() {
        let slots = UrlSlots::new(2);
        let a1 = slots
            .try_enter("http://slow.example/a")
            .expect("first slot");
        let _a2 = slots
            .try_enter("http://slow.example/a")
            .expect("second slot");
        assert!(
            slots.try_enter("http://slow.example/a").is_none(),
            "URL full"
        );
        assert_eq!(slots.saturated_urls(), ["http://slow.example/a"]);
        let held: Vec<Slot> = (0..6)
            .filter_map(|n| slots.try_enter(&format!("http://slow.example/{n}")))
            .collect();
        assert_eq!(held.len(), 6, "the host allows 4 × 2 in all");
        assert!(
            slots.try_enter("http://slow.example/other").is_none(),
            "host full"
        );
        assert!(
            slots.try_enter("http://fast.example/a").is_some(),
            "other hosts unaffected"
        );
        drop(a1);
        drop(held);
        assert!(slots.saturated_urls().is_empty());
        assert!(slots.try_enter("http://slow.example/a").is_some());
    }

    #[test]
    fn admission_counts_what_it_accepts_on_top_of_what_is_in_flight() {
        let slots = UrlSlots::new(2);
        let _held = slots.try_enter("http://busy.example/a").expect("slot");
        let mut admit = slots.admission();
        assert!(admit("http://busy.example/a"));
        assert!(
            !admit("http://busy.example/a"),
            "one in flight plus one accepted"
        );
        assert!(
            admit("http://busy.example/b"),
            "another URL of the host has room"
        );
        assert!(admit("http://idle.example/"));
        assert!(admit("http://idle.example/"));
        assert!(!admit("http://idle.example/"));
    }
}
