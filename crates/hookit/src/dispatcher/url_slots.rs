//! Per-host concurrency: how many attempts may be in flight to one host at once.
//!
//! Limits are per host and port, not per URL, so one hanging receiver mapped under many
//! paths still gets a single share. The claim query skips the URLs of saturated hosts;
//! the counts are in-process only (each process limits its own attempts), which is
//! the kind of state a restarted process simply starts afresh.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// In-flight attempt counts by host.
#[derive(Clone)]
pub struct UrlSlots {
    limit: usize,
    hosts: Arc<Mutex<HashMap<String, HostSlots>>>,
}

#[derive(Default)]
struct HostSlots {
    in_flight: usize,
    urls: HashSet<String>,
}

/// A held slot; dropping it frees the slot.
pub struct Slot {
    slots: UrlSlots,
    host: String,
}

/// The host and port a URL connects to, the unit of the limit.
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

impl UrlSlots {
    /// Slots allowing `limit` concurrent attempts per host.
    pub fn new(limit: usize) -> Self {
        UrlSlots {
            limit: limit.max(1),
            hosts: Arc::default(),
        }
    }

    fn hosts(&self) -> std::sync::MutexGuard<'_, HashMap<String, HostSlots>> {
        // A panic while holding this lock leaves only counters behind; keep going.
        self.hosts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a slot for `url`'s host if one is free.
    pub fn try_enter(&self, url: &str) -> Option<Slot> {
        let host = host_key(url);
        let mut hosts = self.hosts();
        let entry = hosts.entry(host.clone()).or_default();
        if entry.in_flight >= self.limit {
            return None;
        }
        entry.in_flight += 1;
        entry.urls.insert(url.to_owned());
        Some(Slot {
            slots: self.clone(),
            host,
        })
    }

    /// Every URL seen for a host that has no free slot.
    pub fn saturated_urls(&self) -> Vec<String> {
        self.hosts()
            .values()
            .filter(|host| host.in_flight >= self.limit)
            .flat_map(|host| host.urls.iter().cloned())
            .collect()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut hosts = self.slots.hosts();
        if let Some(entry) = hosts.get_mut(&self.host) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
            if entry.in_flight == 0 {
                hosts.remove(&self.host);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_gets_at_most_its_limit_across_paths() {
        let slots = UrlSlots::new(2);
        let a = slots
            .try_enter("http://slow.example/a")
            .expect("first slot");
        let b = slots
            .try_enter("http://slow.example/b")
            .expect("second slot");
        assert!(slots.try_enter("http://slow.example/c").is_none());
        assert!(slots.try_enter("http://fast.example/a").is_some());
        let mut saturated = slots.saturated_urls();
        saturated.sort();
        assert_eq!(
            saturated,
            ["http://slow.example/a", "http://slow.example/b"]
        );
        drop(a);
        assert!(slots.saturated_urls().is_empty());
        drop(b);
        assert!(slots.try_enter("http://slow.example/c").is_some());
    }
}
