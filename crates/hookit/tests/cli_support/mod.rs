//! Running the operator commands (`hookit partner`, `map`, `deliveries`, `audit`) as
//! child processes against a test's `hookit serve`, and reading what they printed.

#![allow(dead_code)]

use super::harness::{OPERATOR_TOKEN, Serve};
use serde_json::Value;

/// What one CLI run printed and how it ended.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert!(
            self.success,
            "command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    pub fn json(self) -> Value {
        let stdout = self.ok();
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"))
    }

    /// Asserts failure and returns stderr.
    pub fn failed(self) -> String {
        assert!(
            !self.success,
            "command should have failed\nstdout:\n{}",
            self.stdout
        );
        self.stderr
    }
}

/// Runs `hookit <args>` with exactly the given environment (plus PATH).
pub async fn hookit_with(env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookit"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.expect("run hookit");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `hookit <args>` against `serve` with the operator token in the environment.
pub async fn hookit(serve: &Serve, args: &[&str]) -> Run {
    let data_dir = serve.data_dir.to_string_lossy().into_owned();
    hookit_with(
        &[
            ("HOOKIT_SERVER", &serve.base),
            ("HOOKIT_OPERATOR_TOKEN", OPERATOR_TOKEN),
            ("HOOKIT_DATA_DIR", &data_dir),
        ],
        args,
    )
    .await
}

pub fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
}

/// Creates a partner through the CLI; returns the `data` of its `--json` answer.
pub async fn create_partner(serve: &Serve, name: &str) -> Value {
    let run = hookit(serve, &["partner", "create", "--name", name, "--json"]).await;
    assert!(run.stderr.contains("cannot show"), "{}", run.stderr);
    run.json()["data"].clone()
}
