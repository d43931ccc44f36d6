//! The demo's data directory (given and kept, or temporary and removed) and the
//! tokens hookit writes into it.

use super::DemoError;
use crate::credentials::Secret;
use std::path::{Path, PathBuf};

pub fn read_token(data_dir: &Path, name: &str) -> Result<Secret, DemoError> {
    let path = data_dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|err| {
        format!(
            "cannot read the {name} hookit created at {}: {err}",
            path.display()
        )
    })?;
    Ok(Secret::new(text.trim()))
}

/// The data directory: given (kept), or a fresh temporary one (removed when dropped).
pub struct DataDir {
    pub path: PathBuf,
    temporary: bool,
}

impl DataDir {
    pub fn prepare(given: Option<PathBuf>) -> Result<DataDir, DemoError> {
        let (path, temporary) = match given {
            Some(path) => (path, false),
            None => {
                let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S%.3f");
                let name = format!("hookit-demo-{}-{stamp}", std::process::id());
                (std::env::temp_dir().join(name), true)
            }
        };
        std::fs::create_dir_all(&path)
            .map_err(|err| format!("cannot create the data directory {}: {err}", path.display()))?;
        crate::private_files::tighten(&path, 0o700).map_err(|err| {
            format!(
                "cannot make the data directory {} owner-only: {err}",
                path.display()
            )
        })?;
        if !temporary && path.join("hookit.db").exists() {
            return Err(format!(
                "{} already holds a hookit database; the demo needs a fresh one: \
                 pass an empty or new --data-dir, or leave it out",
                path.display()
            )
            .into());
        }
        Ok(DataDir { path, temporary })
    }

    pub fn farewell(&self) -> String {
        if self.temporary {
            "; its temporary data directory is removed".into()
        } else {
            format!("; its data is kept in {}", self.path.display())
        }
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
