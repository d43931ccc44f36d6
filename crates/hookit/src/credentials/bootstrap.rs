//! Bootstrap secrets of `hookit serve`: the `root` operator token, the ingest token and
//! the master key. Each is taken from the configuration when set there; otherwise it is
//! read from, or generated into, a file of the data directory that only its owner may
//! read, so that a first `hookit serve` runs at once and a restart keeps the same values.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use super::{CredentialError, INGEST_TOKEN_PREFIX, MasterKey, OPERATOR_TOKEN_PREFIX, Secret};

/// Which bootstrap secret to load or create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapSecret {
    /// The `root` operator token (`operator-token`).
    OperatorToken,
    /// The token of the order platform's ingest API (`ingest-token`).
    IngestToken,
    /// The key that encrypts webhook secrets at rest (`master-key`, 64 hex characters).
    MasterKey,
}

impl BootstrapSecret {
    /// The file name inside the data directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::OperatorToken => "operator-token",
            Self::IngestToken => "ingest-token",
            Self::MasterKey => "master-key",
        }
    }

    /// The environment variable that configures it instead of the file.
    pub fn env_var(self) -> &'static str {
        match self {
            Self::OperatorToken => "HOOKIT_OPERATOR_TOKEN",
            Self::IngestToken => "HOOKIT_INGEST_TOKEN",
            Self::MasterKey => "HOOKIT_MASTER_KEY",
        }
    }

    fn generate(self) -> Secret {
        match self {
            Self::OperatorToken => super::generate_token(OPERATOR_TOKEN_PREFIX),
            Self::IngestToken => super::generate_token(INGEST_TOKEN_PREFIX),
            Self::MasterKey => MasterKey::generate().to_text(),
        }
    }
}

impl fmt::Display for BootstrapSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OperatorToken => "operator token",
            Self::IngestToken => "ingest token",
            Self::MasterKey => "master key",
        })
    }
}

/// Where a bootstrap secret came from. Its `Display` completes a sentence that starts
/// with the secret's name, e.g. `info!("{kind} {source}")` logs
/// "operator token written to ./hookit-data/operator-token (mode 0600)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Set by flag or environment variable.
    Configured,
    /// Read from a file written earlier.
    ExistingFile(PathBuf),
    /// Generated now and written to this file.
    CreatedFile(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Configured => f.write_str("taken from the configuration (flag or environment)"),
            Self::ExistingFile(path) => write!(f, "read from {}", path.display()),
            Self::CreatedFile(path) => write!(f, "written to {} (mode 0600)", path.display()),
        }
    }
}

/// Returns the configured secret if there is one; otherwise the one in
/// `data_dir/<kind.file_name()>`, generating and writing it (mode 0600) the first time.
///
/// A file that group or others may access is refused rather than used, since a token
/// anyone on the machine can read protects nothing.
pub fn load_or_create(
    data_dir: &Path,
    from_config: Option<Secret>,
    kind: BootstrapSecret,
) -> Result<(Secret, SecretSource), CredentialError> {
    if let Some(secret) = from_config {
        return Ok((secret, SecretSource::Configured));
    }
    let path = data_dir.join(kind.file_name());
    match read_secret_file(&path, kind) {
        Ok(secret) => return Ok((secret, SecretSource::ExistingFile(path))),
        Err(CredentialError::File { source, .. }) if source.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let file_error = |action, source| CredentialError::File {
        kind,
        path: path.clone(),
        action,
        source,
    };
    create_private_dir(data_dir).map_err(|e| file_error("creating its directory", e))?;
    let secret = kind.generate();
    match write_new_private_file(&path, secret.expose()) {
        Ok(()) => Ok((secret, SecretSource::CreatedFile(path))),
        // Another process started at the same moment and won the race: use its value,
        // so that both agree.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok((
            read_secret_file(&path, kind)?,
            SecretSource::ExistingFile(path),
        )),
        Err(e) => Err(file_error("writing", e)),
    }
}

fn read_secret_file(path: &Path, kind: BootstrapSecret) -> Result<Secret, CredentialError> {
    let file_error = |action, source| CredentialError::File {
        kind,
        path: path.to_path_buf(),
        action,
        source,
    };
    let file = File::open(path).map_err(|e| file_error("opening", e))?;
    // Checked on the opened file, not the path, so the file judged is the file read.
    check_owner_only(&file, path, kind)?;
    let text = std::io::read_to_string(file)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| file_error("reading", e))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(CredentialError::FileEmpty {
            kind,
            path: path.to_path_buf(),
        });
    }
    Ok(Secret::new(value))
}

#[cfg(unix)]
fn check_owner_only(
    file: &File,
    path: &Path,
    kind: BootstrapSecret,
) -> Result<(), CredentialError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = file
        .metadata()
        .map_err(|source| CredentialError::File {
            kind,
            path: path.to_path_buf(),
            action: "reading the permissions",
            source,
        })?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CredentialError::FileTooOpen {
            kind,
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_: &File, _: &Path, _: BootstrapSecret) -> Result<(), CredentialError> {
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes `value` to `path`, which must not exist yet, so that `path` either does not
/// exist or holds the whole value: a crash never leaves a half-written key behind.
/// The value goes to a temporary file first (mode 0600 from the start, never wider),
/// is synced, and is then hard-linked into place, which fails if `path` appeared
/// meanwhile instead of replacing it (a replaced master key would lose every secret
/// encrypted under it).
fn write_new_private_file(path: &Path, value: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    // A random suffix, so a temporary file left by a crash never blocks a later start.
    let suffix: u64 = rand::Rng::r#gen(&mut rand::rngs::OsRng);
    let temp = dir.join(format!(".{file_name}.{suffix:016x}.tmp"));
    let result = write_synced(&temp, value).and_then(|()| fs::hard_link(&temp, path));
    // The temporary name is gone either way; failing to remove it is harmless.
    let _ = fs::remove_file(&temp);
    result?;
    sync_dir(dir)
}

fn write_synced(path: &Path, value: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(value.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Makes the new directory entry itself durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    #[test]
    fn creates_an_owner_only_file_then_reads_the_same_value()
    -> Result<(), Box<dyn std::error::Error>> {
        let temp = tempfile::tempdir()?;
        let data_dir = temp.path().join("nested").join("data");
        let (first, source) = load_or_create(&data_dir, None, BootstrapSecret::OperatorToken)?;
        let path = data_dir.join("operator-token");
        assert_eq!(source, SecretSource::CreatedFile(path.clone()));
        assert!(first.expose().starts_with("hkop_"));
        #[cfg(unix)]
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(
            source.to_string(),
            format!("written to {} (mode 0600)", path.display())
        );

        let (second, source) = load_or_create(&data_dir, None, BootstrapSecret::OperatorToken)?;
        assert_eq!(source, SecretSource::ExistingFile(path));
        assert_eq!(first, second);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&data_dir)?.count(), 1);
        Ok(())
    }

    #[test]
    fn configured_value_wins_and_writes_nothing() -> Result<(), Box<dyn std::error::Error>> {
        let temp = tempfile::tempdir()?;
        let given = Secret::new("hkin_configured");
        let (secret, source) = load_or_create(
            temp.path(),
            Some(given.clone()),
            BootstrapSecret::IngestToken,
        )?;
        assert_eq!((secret, source), (given, SecretSource::Configured));
        assert!(!temp.path().join("ingest-token").exists());
        Ok(())
    }

    #[test]
    fn existing_file_is_trimmed() -> Result<(), Box<dyn std::error::Error>> {
        let temp = tempfile::tempdir()?;
        write_new_private_file(&temp.path().join("ingest-token"), "  hkin_abc \n")?;
        let (secret, _) = load_or_create(temp.path(), None, BootstrapSecret::IngestToken)?;
        assert_eq!(secret.expose(), "hkin_abc");
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn readable_by_others_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt as _;
        let temp = tempfile::tempdir()?;
        let path = temp.path().join("operator-token");
        fs::write(&path, "hkop_leaked")?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        let err = load_or_create(temp.path(), None, BootstrapSecret::OperatorToken)
            .err()
            .ok_or("a world-readable token file was accepted")?;
        let message = err.to_string();
        assert!(
            message.contains(&format!("chmod 600 {}", path.display())),
            "{message}"
        );
        assert!(message.contains("0644"), "{message}");
        assert!(!message.contains("hkop_leaked"), "{message}");
        Ok(())
    }

    #[test]
    fn generated_master_key_parses() -> Result<(), Box<dyn std::error::Error>> {
        let temp = tempfile::tempdir()?;
        let (text, _) = load_or_create(temp.path(), None, BootstrapSecret::MasterKey)?;
        assert_eq!(text.expose().len(), 64);
        MasterKey::from_text(text.expose())?;
        Ok(())
    }

    #[test]
    fn empty_file_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let temp = tempfile::tempdir()?;
        write_new_private_file(&temp.path().join("master-key"), "")?;
        let err = load_or_create(temp.path(), None, BootstrapSecret::MasterKey).err();
        assert!(
            matches!(err, Some(CredentialError::FileEmpty { .. })),
            "{err:?}"
        );
        Ok(())
    }
}
