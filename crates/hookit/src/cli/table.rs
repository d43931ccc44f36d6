//! Human output: columns aligned by width, and times as RFC 3339 UTC.

use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::Write as _;

/// A table of text cells, printed with every column as wide as its widest cell.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headings.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells print empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// True when no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The aligned text, one line per row (heading first), two spaces between columns
    /// and no trailing spaces.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (column, width) in widths.iter().enumerate() {
                let cell = row.get(column).map(String::as_str).unwrap_or("");
                let _ = write!(line, "{cell:<width$}  ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn widths(&self) -> Vec<usize> {
        self.header
            .iter()
            .enumerate()
            .map(|(column, heading)| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(column))
                    .map(|cell| cell.chars().count())
                    .fold(heading.chars().count(), usize::max)
            })
            .collect()
    }
}

/// Label/value lines, the labels padded to one width.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    pairs
        .iter()
        .map(|(label, value)| format!("{label:<width$}  {value}\n"))
        .collect()
}

/// An API time (RFC 3339) as UTC to the second, e.g. `2026-11-28T10:00:00Z`; text that
/// does not parse is shown as it came.
pub fn time(text: &str) -> String {
    format_time(text, SecondsFormat::Secs)
}

/// Like [`time`], to the millisecond (for attempts, which are close together).
pub fn time_ms(text: &str) -> String {
    format_time(text, SecondsFormat::Millis)
}

fn format_time(text: &str, precision: SecondsFormat) -> String {
    match DateTime::parse_from_rfc3339(text) {
        Ok(time) => time.with_timezone(&Utc).to_rfc3339_opts(precision, true),
        Err(_) => text.to_owned(),
    }
}

/// An optional time, or `-`.
pub fn maybe_time(text: Option<&str>) -> String {
    text.map(time).unwrap_or_else(|| "-".into())
}

/// At most `max` characters of `text` on one line, with `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_to_the_widest_cell() {
        let mut table = Table::new(&["ID", "NAME"]);
        table.row(vec!["prt_1".into(), "Acme".into()]);
        table.row(vec!["p".into(), "Bali Bites".into()]);
        assert_eq!(
            table.render(),
            "ID     NAME\nprt_1  Acme\np      Bali Bites\n"
        );
    }

    #[test]
    fn times_are_utc_rfc3339() {
        assert_eq!(time("2026-11-28T10:00:00.000Z"), "2026-11-28T10:00:00Z");
        assert_eq!(time("2026-11-28T17:00:00+07:00"), "2026-11-28T10:00:00Z");
        assert_eq!(
            time_ms("2026-11-28T10:00:00.123Z"),
            "2026-11-28T10:00:00.123Z"
        );
    }

    #[test]
    fn clip_flattens_and_cuts() {
        assert_eq!(clip("a\nb", 10), "a b");
        assert_eq!(clip("abcdef", 3), "abc…");
    }
}
