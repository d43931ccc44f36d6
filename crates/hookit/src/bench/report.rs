//! What a scenario found, and how it is shown: a table for people, one JSON object
//! for machines.

use serde_json::{Map, Value, json};
use std::fmt::Write as _;

/// One line of the human table.
#[derive(Debug, Clone)]
pub struct Row {
    pub metric: &'static str,
    pub value: String,
    pub target: String,
    pub met: Option<bool>,
}

/// The result of one scenario run.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: &'static str,
    /// Every figure, for `--json`.
    pub fields: Map<String, Value>,
    /// The figures a person reads first, with their SPEC §8 targets.
    pub rows: Vec<Row>,
    /// Broken promises: lost, mis-signed or out-of-order deliveries. Any fails the bench.
    pub problems: Vec<String>,
}

impl ScenarioResult {
    pub fn new(name: &'static str) -> Self {
        ScenarioResult {
            name,
            fields: Map::new(),
            rows: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Records a figure for the JSON output.
    pub fn field(&mut self, name: &str, value: impl Into<Value>) {
        self.fields.insert(name.to_owned(), value.into());
    }

    /// Records a figure for the table (and `met` in the JSON as `<name>_met`).
    pub fn row(&mut self, metric: &'static str, value: String, target: &str, met: Option<bool>) {
        if let Some(met) = met {
            self.fields.insert(format!("{metric}_met"), json!(met));
        }
        self.rows.push(Row {
            metric,
            value,
            target: target.to_owned(),
            met,
        });
    }
}

/// Rounds to `digits` decimals, for readable JSON.
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// `1234567.8` → `"1,234,568"`.
pub fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The one JSON object of `--json`.
pub fn to_json(results: &[ScenarioResult], machine: Value, database: &str) -> Value {
    let scenarios: Map<String, Value> = results
        .iter()
        .map(|r| {
            let mut fields = r.fields.clone();
            fields.insert("ok".into(), json!(r.problems.is_empty()));
            fields.insert("problems".into(), json!(r.problems));
            (r.name.to_owned(), Value::Object(fields))
        })
        .collect();
    json!({ "scenarios": scenarios, "machine": machine, "database": database })
}

/// The human table.
pub fn to_table(results: &[ScenarioResult], machine: &Value, database: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "hookit bench — {database}, {} × {}, {} MiB RAM",
        machine["cpus"],
        machine["cpu_model"].as_str().unwrap_or("unknown CPU"),
        machine["memory_mib"]
    );
    let _ = writeln!(
        out,
        "{:<9} {:<28} {:>14} {:>12}  met?",
        "scenario", "metric", "value", "target"
    );
    for result in results {
        out.push_str(&rows_text(result));
    }
    if let Some(peak) = machine["process_peak_rss_mib"].as_f64() {
        let _ = writeln!(out, "process peak RSS over the whole run: {peak:.1} MiB");
    }
    out
}

/// One scenario's lines of the table, problems included.
pub fn rows_text(result: &ScenarioResult) -> String {
    let mut out = String::new();
    for row in &result.rows {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        let _ = writeln!(
            out,
            "{:<9} {:<28} {:>14} {:>12}  {met}",
            result.name, row.metric, row.value, row.target
        );
    }
    for problem in &result.problems {
        let _ = writeln!(out, "{:<9} PROBLEM: {problem}", result.name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(grouped(0.0), "0");
        assert_eq!(grouped(999.4), "999");
        assert_eq!(grouped(1_234_567.8), "1,234,568");
    }
}
