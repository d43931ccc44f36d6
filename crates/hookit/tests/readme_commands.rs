//! The README is the manual: every `hookit …` command in its shell code blocks exists,
//! so the README and the CLI cannot drift apart. Each command's subcommand words (those
//! before its first flag or argument) are run with `--help`, which must answer.

use std::process::Command;

/// The subcommand words of every `hookit` command line in the README's `sh` blocks.
fn readme_commands(readme: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut in_shell = false;
    for line in readme.lines() {
        let trimmed = line.trim();
        if let Some(fence) = trimmed.strip_prefix("```") {
            in_shell = !in_shell && fence.trim() == "sh";
            continue;
        }
        if !in_shell {
            continue;
        }
        // After any `NAME=value` words: `hookit …`, or `cargo run … -- …`.
        let words: Vec<&str> = trimmed
            .split_whitespace()
            .skip_while(|w| w.contains('=') && !w.starts_with('-'))
            .collect();
        let start = match words.as_slice() {
            ["hookit", ..] => 1,
            ["cargo", "run", ..] => match words.iter().position(|w| *w == "--") {
                Some(at) => at + 1,
                None => continue,
            },
            _ => continue,
        };
        let subcommand: Vec<String> = words[start..]
            .iter()
            .take_while(|w| {
                w.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            })
            .map(|w| (*w).to_owned())
            .collect();
        if !subcommand.is_empty() {
            commands.push(subcommand);
        }
    }
    commands
}

#[test]
fn every_command_in_the_readme_exists() {
    let readme = include_str!("../../../README.md");
    let commands = readme_commands(readme);
    for expected in [
        vec!["partner", "rotate-secret"],
        vec!["partner", "rotate-webhook-secret"],
        vec!["partner", "disable"],
        vec!["partner", "enable"],
        vec!["map", "list"],
        vec!["map", "delete"],
        vec!["audit"],
        vec!["serve"],
        vec!["listen"],
        vec!["demo"],
    ] {
        assert!(
            commands.iter().any(|c| *c == expected),
            "the README shows no `hookit {}`",
            expected.join(" ")
        );
    }
    for command in &commands {
        let output = Command::new(env!("CARGO_BIN_EXE_hookit"))
            .args(command)
            .arg("--help")
            .env_clear()
            .output()
            .expect("run hookit");
        assert!(
            output.status.success(),
            "the README's `hookit {}` is not a command: {}",
            command.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_command_the_cli_lacks_is_caught() {
    let commands = readme_commands(
        "```sh\nhookit partner frobnicate prt_1\nA=1 cargo run --release -- demo --x\n```\n\
         ```toml\nhookit = \"1\"\n```\n",
    );
    assert_eq!(commands, [vec!["partner", "frobnicate"], vec!["demo"]]);
    let output = Command::new(env!("CARGO_BIN_EXE_hookit"))
        .args(&commands[0])
        .arg("--help")
        .env_clear()
        .output()
        .expect("run hookit");
    assert!(!output.status.success(), "an unknown subcommand must fail");
}
