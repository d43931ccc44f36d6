//! The per-scenario data directory of the server under test.

use super::BenchError;
use std::path::{Path, PathBuf};

/// A data directory made for one scenario, removed on drop unless kept.
pub struct DataDir {
    pub path: PathBuf,
    keep: bool,
}

impl DataDir {
    /// Creates `parent/hookit-bench-<scenario>-<pid>-<random>`.
    pub fn create(parent: &Path, scenario: &str, keep: bool) -> Result<DataDir, BenchError> {
        let name = format!(
            "hookit-bench-{scenario}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let path = parent.join(name);
        std::fs::create_dir_all(&path)
            .map_err(|err| format!("cannot create the data directory {}: {err}", path.display()))?;
        Ok(DataDir { path, keep })
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("bench: kept data in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
