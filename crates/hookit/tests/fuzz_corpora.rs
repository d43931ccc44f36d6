//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) and every crash a
//! fuzzer found (`fuzz/regressions/<target>/`) through the entry points the fuzz
//! targets call (`hookit::fuzzing`), on the stable toolchain: a parser change that
//! panics on an input the fuzzer once reached fails here, with the file named.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `dir`, sorted; none if it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn replay(name: &str, target: fn(&[u8]), files: &[PathBuf]) {
    for file in files {
        let data = std::fs::read(file).expect("read corpus file");
        let outcome = std::panic::catch_unwind(|| target(&data));
        assert!(
            outcome.is_ok(),
            "fuzz target {name} fails on {} (replay it with `cargo fuzz run {name} {}`)",
            file.display(),
            file.display()
        );
    }
}

#[test]
fn every_committed_corpus_input_passes_its_target() {
    for (name, target) in hookit::fuzzing::TARGETS {
        let files = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(
            !files.is_empty(),
            "fuzz/corpus/{name}/ is empty: every target keeps a corpus"
        );
        replay(name, target, &files);
    }
}

#[test]
fn every_crash_found_stays_fixed() {
    for (name, target) in hookit::fuzzing::TARGETS {
        replay(
            name,
            target,
            &inputs(&fuzz_dir().join("regressions").join(name)),
        );
    }
}

#[test]
fn every_fuzz_target_has_an_entry_point_and_a_corpus() {
    let targets = inputs(&fuzz_dir().join("fuzz_targets"));
    let mut declared: Vec<String> = targets
        .iter()
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .collect();
    declared.sort();
    let mut entry_points: Vec<String> = hookit::fuzzing::TARGETS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    entry_points.sort();
    assert_eq!(
        declared, entry_points,
        "fuzz/fuzz_targets/ and hookit::fuzzing::TARGETS"
    );
}
