//! Telling TLS failures apart. A failed handshake reaches us as a `reqwest::Error`
//! whose chain of causes holds the `rustls::Error`, sometimes inside an `io::Error`
//! (whose `source()` skips the error it wraps, so it is opened with `get_ref`). The
//! kind names the problem so an operator can tell a partner what to fix.

use std::error::Error;

/// The attempt error kind of a TLS failure, and what the partner or operator can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsFailure {
    pub kind: &'static str,
    pub hint: &'static str,
}

/// The TLS failure somewhere in `err`'s chain of causes, if there is one. An
/// `io::Error` may wrap another `io::Error` before the `rustls::Error`, so each one is
/// opened too.
pub fn tls_failure_in(err: &(dyn Error + 'static)) -> Option<TlsFailure> {
    let mut pending = vec![err];
    while let Some(cause) = pending.pop() {
        if let Some(rustls_error) = cause.downcast_ref::<rustls::Error>() {
            return Some(classify(rustls_error));
        }
        if let Some(wrapped) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            let wrapped: &(dyn Error + 'static) = wrapped;
            pending.push(wrapped);
        }
        pending.extend(cause.source());
    }
    None
}

fn classify(err: &rustls::Error) -> TlsFailure {
    use rustls::CertificateError as Cert;
    let rustls::Error::InvalidCertificate(problem) = err else {
        return TlsFailure {
            kind: "tls",
            hint: "the TLS handshake failed; check that the URL's port speaks HTTPS",
        };
    };
    match problem {
        Cert::Expired | Cert::ExpiredContext { .. } => TlsFailure {
            kind: "tls_expired",
            hint: "the receiver's certificate has expired; the partner must renew it",
        },
        Cert::NotValidYet | Cert::NotValidYetContext { .. } => TlsFailure {
            kind: "tls_not_yet_valid",
            hint: "the receiver's certificate is not valid yet; check the partner's certificate dates and clocks",
        },
        Cert::NotValidForName | Cert::NotValidForNameContext { .. } => TlsFailure {
            kind: "tls_hostname",
            hint: "the receiver's certificate is for another host name; the partner must serve one that names the URL's host",
        },
        Cert::UnknownIssuer => TlsFailure {
            kind: "tls_unknown_issuer",
            hint: "the receiver's certificate is not signed by a trusted authority; the partner must use a public CA, or add their CA to HOOKIT_EXTRA_CA_FILE",
        },
        _ => TlsFailure {
            kind: "tls_certificate",
            hint: "the receiver's certificate was refused; the partner must serve a valid certificate",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::tls_failure_in;
    use rustls::{CertificateError, Error as TlsError};

    #[derive(Debug, thiserror::Error)]
    #[error("connect failed")]
    struct Outer(#[source] std::io::Error);

    fn kind_of(problem: CertificateError) -> Option<&'static str> {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            TlsError::InvalidCertificate(problem),
        );
        tls_failure_in(&Outer(io)).map(|failure| failure.kind)
    }

    #[test]
    fn certificate_problems_inside_an_io_error_are_named() {
        assert_eq!(kind_of(CertificateError::Expired), Some("tls_expired"));
        assert_eq!(
            kind_of(CertificateError::NotValidForName),
            Some("tls_hostname")
        );
        assert_eq!(
            kind_of(CertificateError::UnknownIssuer),
            Some("tls_unknown_issuer")
        );
        assert_eq!(
            kind_of(CertificateError::BadSignature),
            Some("tls_certificate")
        );
    }

    #[test]
    fn an_error_without_tls_in_its_chain_is_not_a_tls_failure() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(tls_failure_in(&Outer(io)), None);
    }
}
