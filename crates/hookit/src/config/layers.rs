//! The config file and the layering of sources: a value set by flag or environment
//! wins over the file's, and a setting set nowhere is left to its default.

use std::path::{Path, PathBuf};

use super::values::{self, Origin, Setting};
use super::{ConfigError, FILE_SETTINGS, INGEST_TOKEN, MASTER_KEY, OPERATOR_TOKEN, RETRY_SCHEDULE};

/// The parsed config file: its path and its top-level table.
pub(super) struct ConfigFile {
    path: PathBuf,
    table: toml::Table,
}

impl ConfigFile {
    pub(super) fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::FileSyntax {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
        for key in table.keys() {
            if let Some(secret) = [&OPERATOR_TOKEN, &INGEST_TOKEN, &MASTER_KEY]
                .into_iter()
                .find(|s| s.key == key)
            {
                return Err(ConfigError::SecretInFile {
                    path: path.to_path_buf(),
                    key: secret.key,
                    env: secret.env,
                });
            }
            if !FILE_SETTINGS.iter().any(|s| s.key == key) {
                let known: Vec<&str> = FILE_SETTINGS.iter().map(|s| s.key).collect();
                return Err(ConfigError::UnknownKey {
                    path: path.to_path_buf(),
                    key: key.clone(),
                    known: known.join(", "),
                });
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            table,
        })
    }
}

/// The flag/environment layer (passed per setting) over the file layer.
pub(super) struct Layers<'a> {
    pub(super) file: Option<&'a ConfigFile>,
}

impl Layers<'_> {
    /// The value of `setting` from the highest layer that has one, parsed; `None` if
    /// no layer sets it (the caller then uses the default).
    pub(super) fn get<T>(
        &self,
        setting: &Setting,
        from_args: Option<String>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let (raw, origin) = match (from_args, self.file) {
            (Some(raw), _) => (raw, Origin::FlagOrEnv),
            (None, Some(file)) => match file.table.get(setting.key) {
                Some(value) => {
                    let origin = Origin::File(file.path.clone());
                    let raw = values::toml_text(value, setting.key == RETRY_SCHEDULE.key).map_err(
                        |problem| setting.invalid(value.to_string(), origin.clone(), problem),
                    )?;
                    (raw, origin)
                }
                None => return Ok(None),
            },
            (None, None) => return Ok(None),
        };
        match parse(&raw) {
            Ok(value) => Ok(Some(value)),
            Err(problem) => Err(setting.invalid(format!("{raw:?}"), origin, problem)),
        }
    }
}
