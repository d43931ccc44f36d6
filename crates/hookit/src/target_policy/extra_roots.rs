//! Certificate authorities trusted for webhook targets beyond the built-in public roots
//! (`HOOKIT_EXTRA_CA_FILE`): a PEM file of one or more CA certificates, for partners
//! behind a private CA and for tests. Read and checked once, when the configuration is
//! loaded, so a bad file stops `hookit serve` at start instead of failing every attempt.

use std::fmt;
use std::path::{Path, PathBuf};

/// The extra trusted authorities, parsed; empty when none are configured.
#[derive(Clone, Default)]
pub struct ExtraRoots {
    path: Option<PathBuf>,
    certificates: Vec<reqwest::Certificate>,
}

impl fmt::Debug for ExtraRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtraRoots")
            .field("path", &self.path)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl ExtraRoots {
    /// Reads the PEM file at `path`. The problem, if any, says what was wrong with the
    /// file and what it must hold.
    pub fn load(path: &Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|err| {
            format!("cannot read the file ({err}); expected a readable PEM file of CA certificates")
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
            format!("it is not a PEM file of certificates ({err}); expected one or more `-----BEGIN CERTIFICATE-----` blocks")
        })?;
        if certificates.is_empty() {
            return Err(
                "it holds no `-----BEGIN CERTIFICATE-----` block; give a PEM file with the CA certificate(s) to trust"
                    .to_owned(),
            );
        }
        let roots = Self {
            path: Some(path.to_path_buf()),
            certificates,
        };
        // The TLS backend parses each certificate only when a client is built: build
        // one now so that a malformed certificate is reported here, at start.
        roots
            .apply(reqwest::Client::builder())
            .build()
            .map_err(|err| {
                format!("a certificate in it cannot be used as a trust anchor: {err}")
            })?;
        Ok(roots)
    }

    /// The file they came from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// How many certificates the file holds.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// True when no extra authority is configured.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// Adds the authorities to a client's trust store, beside the built-in roots.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        self.certificates
            .iter()
            .cloned()
            .fold(builder, reqwest::ClientBuilder::add_root_certificate)
    }
}

#[cfg(test)]
mod tests {
    use super::ExtraRoots;

    #[test]
    fn a_missing_file_says_it_cannot_be_read() {
        let problem = ExtraRoots::load(std::path::Path::new("/nonexistent/ca.pem"))
            .expect_err("missing file");
        assert!(problem.contains("cannot read"), "{problem}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let problem = ExtraRoots::load(&path).expect_err("no certificate");
        assert!(problem.contains("BEGIN CERTIFICATE"), "{problem}");
    }

    #[test]
    fn a_malformed_certificate_is_refused_at_load() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ca.pem");
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        assert!(ExtraRoots::load(&path).is_err());
    }
}
