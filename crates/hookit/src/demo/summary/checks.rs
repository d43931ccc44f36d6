//! The guarantees the demo checks, each held, broken, or not exercised when the run
//! had nothing to show for it.

use super::super::receiver::Books;
use super::Inputs;

/// What a run showed of one guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    Held,
    Broken,
    /// Nothing happened that could have broken it.
    NotExercised,
}

/// One guarantee and whether it held.
pub(super) struct Check {
    pub(super) mark: Mark,
    pub(super) name: &'static str,
    pub(super) detail: String,
}

impl Check {
    /// A guarantee that held or not, if the run `exercised` it at all.
    fn new(exercised: bool, held: bool, name: &'static str, detail: String) -> Check {
        let mark = match (exercised, held) {
            (false, _) => Mark::NotExercised,
            (true, true) => Mark::Held,
            (true, false) => Mark::Broken,
        };
        Check { mark, name, detail }
    }
}

pub(super) fn checks(
    inputs: &Inputs<'_>,
    changes: usize,
    delivered: usize,
    dead_now: usize,
) -> Vec<Check> {
    let Inputs {
        books,
        driven,
        watch,
        ..
    } = inputs;
    let recovered = watch
        .replayed
        .iter()
        .filter(|r| {
            books
                .events
                .get(&r.event_id)
                .is_some_and(|seen| seen.handled)
        })
        .count();
    let mut ordering = format!("{} ordering violations", books.violations);
    if let Some(example) = books.violation_examples.first() {
        ordering.push_str(&format!(", e.g. {example}"));
    }
    if books.orders_without_version > 0 {
        ordering.push_str(&format!(
            ", {} orders without a version",
            books.orders_without_version
        ));
    }
    let orders_with_several = books.sequences.values().filter(|s| s.len() > 1).count();
    ordering.push_str(&format!(
        " among {orders_with_several} orders delivered more than once"
    ));
    let duplicate = match inputs.duplicate_replay {
        Some(replay) => format!(
            "{} duplicates ignored, incl. replayed {} ({})",
            books.duplicates,
            replay.event_id,
            if replay.ignored {
                "ignored"
            } else {
                "NOT seen"
            }
        ),
        None => format!(
            "{} duplicates ignored; no replay of a delivered event",
            books.duplicates
        ),
    };
    vec![
        Check::new(
            books.requests > 0,
            books.signature_failures == 0
                && books.other_rejections == 0
                && books.verified + books.rotation_races == books.requests,
            "every signature verified",
            format!(
                "signatures verified: {} of {} requests, {}{} failed",
                books.verified,
                books.requests,
                match books.rotation_races {
                    0 => String::new(),
                    races => format!(
                        "{races} signed with the new secret before it was known (retried), "
                    ),
                },
                books.signature_failures
            ),
        ),
        independent_check(books),
        Check::new(
            changes > 0,
            delivered == changes,
            "every order change delivered",
            format!("{delivered} of {changes} (order, version) acknowledged"),
        ),
        Check::new(
            orders_with_several > 0,
            books.violations == 0 && books.orders_without_version == 0,
            "per-order ordering",
            ordering,
        ),
        Check::new(
            !watch.replayed.is_empty() || !watch.errors.is_empty() || dead_now > 0,
            recovered == watch.replayed.len() && dead_now == 0 && watch.errors.is_empty(),
            "dead delivery recovered by replay",
            format!(
                "dead and replayed: {} of {} recovered under the same event id{}",
                recovered,
                watch.replayed.len(),
                watch
                    .errors
                    .first()
                    .map(|e| format!("; operator API error: {e}"))
                    .unwrap_or_default()
            ),
        ),
        Check::new(
            !books.stale_dropped.is_empty(),
            books.violations == 0,
            "replay after newer changes dropped",
            match books.stale_dropped.first() {
                Some(example) => {
                    format!("{example} on replay: older, so the partner dropped it by version")
                }
                None => "no replayed delivery arrived after a newer version".to_owned(),
            },
        ),
        Check::new(
            inputs.duplicate_replay.is_some(),
            inputs.duplicate_replay.is_some_and(|r| r.ignored),
            "replayed duplicates ignored",
            duplicate,
        ),
        rotation_check(inputs),
        slow_check(inputs),
        Check::new(
            driven.late_pushes > 0,
            driven.late_pushes_ignored == driven.late_pushes,
            "stale pushes ignored",
            format!(
                "{} of {} late pushes acknowledged and ignored",
                driven.late_pushes_ignored, driven.late_pushes
            ),
        ),
        Check::new(
            driven.resends > 0,
            driven.resends_answered_identically == driven.resends,
            "retried ingest push is idempotent",
            format!(
                "{} of {} re-sent pushes answered as the first, nothing stored twice",
                driven.resends_answered_identically, driven.resends
            ),
        ),
    ]
}

fn independent_check(books: &Books) -> Check {
    Check::new(
        books.requests > 0,
        books.independent_refused == 0
            && books.independent_ok + books.rotation_races == books.requests,
        "independent verifier agrees",
        format!(
            "{} of {} requests verified by the seed's recipe in plain hmac + sha2, not \
             klikit-webhook",
            books.independent_ok, books.requests
        ),
    )
}

fn rotation_check(inputs: &Inputs<'_>) -> Check {
    let books = inputs.books;
    let with_new = books.verified_with.get(1).copied().unwrap_or_default();
    let with_old = books.verified_with.first().copied().unwrap_or_default();
    let detail = match &inputs.rotation {
        Err(err) => format!("the rotation failed: {err}"),
        Ok(()) => format!(
            "{with_old} requests signed with the first secret, {with_new} with the rotated \
             one, {} failed",
            books.signature_failures
        ),
    };
    Check::new(
        inputs.rotation.is_err() || with_new > 0,
        inputs.rotation.is_ok() && with_new > 0 && books.signature_failures == 0,
        "webhook-secret rotation",
        detail,
    )
}

fn slow_check(inputs: &Inputs<'_>) -> Check {
    let books = inputs.books;
    let Some(event_id) = &books.slow_event else {
        return Check::new(
            false,
            false,
            "slow handler timed out, retried",
            "no delivery met the slow handler".to_owned(),
        );
    };
    let seen = books.events.get(event_id);
    let handled = seen.is_some_and(|seen| seen.handled && seen.attempts >= 2);
    Check::new(
        true,
        handled && inputs.slow_timeout_recorded,
        "slow handler timed out, retried",
        format!(
            "{event_id}: hookit {} the slow attempt as a timeout; {}",
            if inputs.slow_timeout_recorded {
                "recorded"
            } else {
                "did NOT record"
            },
            if handled {
                "a retry was handled"
            } else {
                "no retry was handled"
            }
        ),
    )
}

/// The guarantees, one per line.
pub(super) fn checks_text(checks: &[Check]) -> String {
    let mut text = "\n  Guarantees\n".to_owned();
    for check in checks {
        let (mark, note) = match check.mark {
            Mark::Held => ('✓', ""),
            Mark::Broken => ('✗', ""),
            Mark::NotExercised => ('–', "not exercised: "),
        };
        text.push_str(&format!(
            "  {mark} {:<38}{note}{}\n",
            check.name, check.detail
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_show_is_not_exercised_never_a_check_mark() {
        let checks = [
            Check::new(false, true, "stale pushes ignored", "0 of 0".to_owned()),
            Check::new(true, true, "per-order ordering", "0 violations".to_owned()),
            Check::new(
                true,
                false,
                "every order change delivered",
                "1 of 2".to_owned(),
            ),
        ];
        let text = checks_text(&checks);
        assert!(
            text.contains("– stale pushes ignored") && text.contains("not exercised: 0 of 0"),
            "{text}"
        );
        assert!(text.contains("✓ per-order ordering"), "{text}");
        assert!(text.contains("✗ every order change delivered"), "{text}");
    }
}
