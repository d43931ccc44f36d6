//! The README's Rust example ("With the Rust crate") is the doctest of the `dedupe`
//! module, line for line, so the example partners copy compiles and runs.

/// The lines of the first ```rust block after `heading` in `text`.
fn readme_block(text: &str, heading: &str) -> Vec<String> {
    let after = &text[text.find(heading).expect("README heading")..];
    let start = after.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let block = &after[start..];
    let end = block.find("```").expect("end of the block");
    block[..end].lines().map(str::to_owned).collect()
}

/// The shown (not `# `-hidden) lines of the first doctest in a module's `//!` docs.
fn doctest_lines(source: &str) -> Vec<String> {
    let docs: Vec<&str> = source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    let start = docs
        .iter()
        .position(|line| *line == "```")
        .expect("doctest")
        + 1;
    docs[start..]
        .iter()
        .take_while(|line| **line != "```")
        .filter(|line| !line.starts_with("# "))
        .map(|line| (*line).to_owned())
        .collect()
}

#[test]
fn the_readme_example_is_the_dedupe_doctest() {
    let readme = include_str!("../../../README.md");
    let module = include_str!("../src/dedupe.rs");
    let shown = readme_block(readme, "### With the Rust crate");
    assert!(shown.iter().any(|line| line.contains("record_handled")));
    assert_eq!(shown, doctest_lines(module));
}
