//! The walls between modules, checked on the source: the store knows nothing of HTTP,
//! the API or the dispatcher; the API and the console never reach into the dispatcher.

use std::path::{Path, PathBuf};

/// Names a module must not use, and the known exceptions still to be taken down:
/// (file, name) pairs. A new use anywhere else fails the test.
struct Wall {
    sources: &'static [&'static str],
    forbidden: &'static [&'static str],
    known_exceptions: &'static [(&'static str, &'static str)],
}

const STORE: Wall = Wall {
    sources: &["src/store.rs", "src/store"],
    forbidden: &[
        "crate::api",
        "utoipa",
        "axum",
        "http::",
        "reqwest",
        "crate::dispatcher",
    ],
    known_exceptions: &[],
};

const API: Wall = Wall {
    sources: &["src/api.rs", "src/api"],
    forbidden: &["crate::dispatcher"],
    // /readyz reports the dispatcher's health through its handle.
    known_exceptions: &[("src/api.rs", "crate::dispatcher")],
};

const CONSOLE: Wall = Wall {
    sources: &["src/console.rs", "src/console"],
    // Pages write to the store and return: no dispatcher, no outgoing HTTP.
    forbidden: &["crate::dispatcher", "reqwest"],
    known_exceptions: &[],
};

fn rust_files(root: &Path, relative: &str, found: &mut Vec<PathBuf>) {
    let path = root.join(relative);
    if path.is_file() {
        found.push(path);
        return;
    }
    for entry in std::fs::read_dir(&path).expect("read dir") {
        let entry = entry.expect("dir entry").path();
        let name = entry.strip_prefix(root).expect("under root");
        rust_files(root, &name.to_string_lossy(), found);
    }
}

fn breaches(wall: &Wall) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for source in wall.sources {
        rust_files(root, source, &mut files);
    }
    assert!(files.len() > 1, "found the sources: {files:?}");
    let mut found = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        let relative = file
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy();
        let text = std::fs::read_to_string(file).expect("read source");
        for name in wall.forbidden {
            let excepted = wall
                .known_exceptions
                .iter()
                .any(|(path, excepted)| *path == relative && excepted == name);
            if !excepted && text.contains(name) {
                found.push(format!("{relative} names `{name}`"));
            }
        }
    }
    found
}

#[test]
fn the_store_knows_nothing_of_http_the_api_or_the_dispatcher() {
    assert_eq!(breaches(&STORE), Vec::<String>::new());
}

#[test]
fn the_api_never_reaches_into_the_dispatcher() {
    assert_eq!(breaches(&API), Vec::<String>::new());
}

#[test]
fn the_console_never_sends_a_webhook_nor_reaches_into_the_dispatcher() {
    assert_eq!(breaches(&CONSOLE), Vec::<String>::new());
}
