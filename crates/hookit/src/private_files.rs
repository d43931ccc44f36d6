//! Owner-only files: everything hookit creates (data directory, database and its
//! `-wal`/`-shm` files, secrets, de-dupe databases) is readable by its owner alone —
//! 0700 directories, 0600 files — and what an older version left wider is tightened at
//! start, with a log line naming the path (never the contents).

use std::path::{Path, PathBuf};

/// Makes every file and directory this process creates from now on owner-only, by
/// setting the process's umask to 0o077. Called at the start of `serve`, `listen`,
/// `demo` and `bench`.
pub fn restrict_new_files() {
    #[cfg(unix)]
    {
        let _previous = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// The database at `path` and the `-wal` and `-shm` files SQLite keeps beside it.
pub fn database_files(path: &Path) -> [PathBuf; 3] {
    let with_suffix = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_path_buf(), with_suffix("-wal"), with_suffix("-shm")]
}

/// Tightens the database files of `path` to 0600 where they exist wider; returns
/// those it tightened.
pub fn tighten_database(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut tightened = Vec::new();
    for file in database_files(path) {
        if tighten(&file, 0o600)? {
            tightened.push(file);
        }
    }
    Ok(tightened)
}

/// Sets `path` to `mode` if it exists and group or others may use it; returns whether
/// it did. A missing path is left alone.
pub fn tighten(path: &Path, mode: u32) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(err),
        };
        if metadata.file_type().is_symlink() {
            return Ok(false);
        }
        let was = metadata.permissions().mode() & 0o7777;
        if was & 0o077 == 0 {
            return Ok(false);
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        tracing::warn!(
            path = %path.display(),
            "tightened permissions from {was:04o} to {mode:04o}: hookit's files are owner-only"
        );
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(false)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    #[test]
    fn wide_database_files_are_tightened_and_missing_ones_ignored() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("hookit.db");
        std::fs::write(&db, b"").expect("write");
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        tighten_database(&db).expect("tighten");
        assert_eq!(mode_of(&db), 0o600);
        assert!(!dir.path().join("hookit.db-wal").exists());
        assert!(!tighten(&db, 0o600).expect("again"), "already owner-only");
    }
}
