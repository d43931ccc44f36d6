//! Resident memory of this process, read from `/proc/self/status`.
//!
//! The server runs in-process during a bench, so the process's resident set covers the
//! server, the receiver and the ingest clients together; that is the conservative
//! figure reported against SPEC §8's memory target.

/// Bytes in one MiB.
const MIB: f64 = 1024.0 * 1024.0;

/// One `kB` field of `/proc/self/status` (e.g. `VmRSS`, `VmHWM`), in MiB; `None`
/// where the file or the field does not exist (not Linux).
fn status_field_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kib: f64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024.0 / MIB)
    })
}

/// The resident set now, in MiB.
pub fn rss_mib() -> Option<f64> {
    status_field_mib("VmRSS")
}

/// The peak resident set ("high-water mark") since start or the last
/// [`reset_peak`], in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    status_field_mib("VmHWM")
}

/// Resets the peak resident set to the current one (Linux ≥ 4.0:
/// `echo 5 > /proc/self/clear_refs`), so a scenario's peak is its own. Returns whether
/// the reset worked; if not, the peak covers everything since the process started.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resident_memory_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = rss_mib().expect("VmRSS");
            let peak = peak_rss_mib().expect("VmHWM");
            assert!(rss > 0.0 && peak >= rss * 0.5, "rss {rss} peak {peak}");
        }
    }
}
