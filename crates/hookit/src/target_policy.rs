//! Where outgoing webhooks may go. By default only public addresses: a webhook URL must
//! not let a partner (or whoever controls its DNS) make hookit call loopback, private,
//! link-local or cloud-metadata services. Addresses are judged where they are actually
//! connected to — in the HTTP client's DNS resolver, and before each attempt for IP
//! literals (which never reach a resolver) — so DNS rebinding cannot slip past a check
//! made earlier. `HOOKIT_ALLOW_PRIVATE_TARGETS=true` lifts the rule for local work.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;

mod extra_roots;

pub use extra_roots::ExtraRoots;

const ALLOW_HINT: &str =
    "set HOOKIT_ALLOW_PRIVATE_TARGETS=true on `hookit serve` to allow private targets";
/// Long enough for any real endpoint; stops a stored URL from bloating every row.
pub const MAX_URL_LEN: usize = 2048;

/// Why `ip` is not a public webhook target, or `None` if it is one. IPv6 forms that
/// embed an IPv4 address (mapped, compatible, 6to4, NAT64, Teredo) are judged by the
/// IPv4 address they reach.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, d] = ip.octets();
    // Metadata addresses come first: they sit inside link-local and CGNAT ranges but
    // deserve the more specific (and more alarming) reason.
    let reason = match (a, b, c, d) {
        (169, 254, 169, 254) | (100, 100, 100, 200) => "a cloud metadata address",
        (0, 0, 0, 0) => "the unspecified address",
        (255, 255, 255, 255) => "the broadcast address",
        (0, ..) => "a reserved (\"this network\") address",
        (127, ..) => "a loopback address",
        (10, ..) | (192, 168, ..) => "a private address",
        (172, 16..=31, ..) => "a private address",
        (169, 254, ..) => "a link-local address",
        (100, 64..=127, ..) => "a carrier-grade NAT (shared) address",
        (224..=239, ..) => "a multicast address",
        (240..=255, ..) => "a reserved address",
        (192, 0, 0, _) | (192, 88, 99, _) => "a reserved (protocol assignment) address",
        (198, 18..=19, ..) => "a benchmarking address",
        (192, 0, 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => "a documentation address",
        _ => return None,
    };
    Some(reason)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    let bits = u128::from(ip);
    let embedded_v4 = |low: u128| Ipv4Addr::from((low & 0xffff_ffff) as u32);
    let reason = match segments {
        [0, 0, 0, 0, 0, 0, 0, 0] => "the unspecified address",
        [0, 0, 0, 0, 0, 0, 0, 1] => "a loopback address",
        [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254] => "a cloud metadata address",
        // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), ::ffff:0:a.b.c.d (translated)
        // and 64:ff9b::a.b.c.d (NAT64) all end up at a.b.c.d.
        [0, 0, 0, 0, 0, 0xffff, ..]
        | [0, 0, 0, 0, 0, 0, ..]
        | [0, 0, 0, 0, 0xffff, 0, ..]
        | [0x64, 0xff9b, 0, 0, 0, 0, ..] => return forbidden_v4(embedded_v4(bits)),
        // 6to4: 2002:AABB:CCDD::/48 routes to AA.BB.CC.DD.
        [0x2002, ..] => return forbidden_v4(embedded_v4(bits >> 80)),
        // Teredo: the client's IPv4 address is the last 32 bits, inverted.
        [0x2001, 0, ..] => return forbidden_v4(embedded_v4(!bits)),
        [0x64, 0xff9b, 1, ..] => "a private (local-use NAT64) address",
        [0x2001, 0xdb8, ..] => "a documentation address",
        [0x100, 0, 0, 0, ..] => "a reserved (discard-only) address",
        [first, ..] if first & 0xfe00 == 0xfc00 => "a private (unique local) address",
        [first, ..] if first & 0xffc0 == 0xfe80 => "a link-local address",
        [first, ..] if first & 0xffc0 == 0xfec0 => "a private (site-local) address",
        [first, ..] if first & 0xff00 == 0xff00 => "a multicast address",
        // Everything public on the IPv6 internet is inside 2000::/3.
        [first, ..] if first & 0xe000 != 0x2000 => "a reserved address",
        _ => return None,
    };
    Some(reason)
}

/// A webhook URL that passed [`validate_target_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl(Url);

impl TargetUrl {
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn into_url(self) -> Url {
        self.0
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// Why a webhook URL was rejected when an operator mapped it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetUrlError {
    #[error(
        "webhook URL {url:?} is not a valid absolute URL ({reason}); expected e.g. https://partner.example.com/klikit/webhooks"
    )]
    Malformed { url: String, reason: String },
    #[error(
        "webhook URL is {len} characters long (percent-encoded); at most {MAX_URL_LEN} are allowed"
    )]
    TooLong { len: usize },
    #[error("webhook URL must use https (got {url}); expected https://…")]
    UnsupportedScheme { url: String },
    #[error(
        "webhook URL must use https (got {url}); set HOOKIT_ALLOW_PRIVATE_TARGETS=true on `hookit serve` (the server checks targets, not the CLI) for local development"
    )]
    HttpsRequired { url: String },
    #[error(
        "webhook URL {url} must not contain a user name or password; receivers authenticate deliveries by their x-klikit-signature header"
    )]
    Credentials { url: String },
    #[error(
        "webhook URL {url} must not contain a #fragment, which is never sent to the server; remove it"
    )]
    Fragment { url: String },
    #[error(
        "webhook URL {url} points to {host}, which is {reason}; webhooks go only to public addresses ({ALLOW_HINT})"
    )]
    Forbidden {
        url: String,
        host: String,
        reason: &'static str,
    },
}

/// Checks a webhook URL an operator wants to map: absolute http(s) with a host, no
/// credentials, no fragment; https and a non-private host unless `allow_private`.
/// Host names are judged again, on their resolved addresses, at every attempt.
pub fn validate_target_url(url: &str, allow_private: bool) -> Result<TargetUrl, TargetUrlError> {
    if url.len() > MAX_URL_LEN {
        return Err(TargetUrlError::TooLong { len: url.len() });
    }
    let parsed = Url::parse(url).map_err(|e| TargetUrlError::Malformed {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let mut shown = parsed.clone();
        // Neither can fail on an http(s) URL with a host; the shown URL only loses detail.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(TargetUrlError::Credentials {
            url: shown.to_string(),
        });
    }
    let shown = parsed.to_string();
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err(TargetUrlError::HttpsRequired { url: shown }),
        _ => return Err(TargetUrlError::UnsupportedScheme { url: shown }),
    }
    let Some(host) = parsed.host_str().filter(|host| !host.is_empty()) else {
        return Err(TargetUrlError::Malformed {
            url: url.to_owned(),
            reason: "it names no host".into(),
        });
    };
    if parsed.fragment().is_some() {
        return Err(TargetUrlError::Fragment { url: shown });
    }
    // The stored form is the normalised one (percent-encoded), which can be several
    // times the given text: bound what is stored, not only what was sent.
    if shown.len() > MAX_URL_LEN {
        return Err(TargetUrlError::TooLong { len: shown.len() });
    }
    if !allow_private {
        let reason = match literal_ip(host) {
            Some(ip) => forbidden_reason(ip),
            // RFC 6761: localhost names always resolve to loopback; say so now rather
            // than at the first attempt.
            None if is_localhost(host) => Some("a loopback address"),
            None => None,
        };
        if let Some(reason) = reason {
            let host = host.to_owned();
            return Err(TargetUrlError::Forbidden {
                url: shown,
                host,
                reason,
            });
        }
    }
    Ok(TargetUrl(parsed))
}

/// The address of an IP-literal host as `Url::host_str` writes it (`[…]` for IPv6).
fn literal_ip(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// A delivery attempt refused because its target is not a public address. Its `Display`
/// is what the attempt record stores as the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRefused {
    /// The host as written in the URL.
    pub host: String,
    /// The refused address (the first one, when a name resolved only to refused ones).
    pub address: IpAddr,
    pub reason: &'static str,
}

impl fmt::Display for TargetRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if literal_ip(&self.host) == Some(self.address) {
            write!(
                f,
                "target refused: {} is {} ({ALLOW_HINT})",
                self.address, self.reason
            )
        } else {
            write!(
                f,
                "target refused: {} resolves to {}, which is {} ({ALLOW_HINT})",
                self.host, self.address, self.reason
            )
        }
    }
}

impl std::error::Error for TargetRefused {}

/// Refuses a URL whose host is a forbidden IP literal. The dispatcher calls this before
/// each attempt, because the HTTP client connects to IP literals without asking the
/// resolver.
pub fn check_literal_host(url: &Url, allow_private: bool) -> Result<(), TargetRefused> {
    if allow_private {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default();
    let Some(address) = literal_ip(host) else {
        return Ok(());
    };
    match forbidden_reason(address) {
        Some(reason) => Err(TargetRefused {
            host: host.to_owned(),
            address,
            reason,
        }),
        None => Ok(()),
    }
}

/// The [`TargetRefused`] behind a failed request, if that is why it failed.
pub fn refusal_in(err: &reqwest::Error) -> Option<&TargetRefused> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(error) = cause {
        if let Some(refused) = error.downcast_ref::<TargetRefused>() {
            return Some(refused);
        }
        cause = error.source();
    }
    None
}

/// A DNS resolver that hands the HTTP client only public addresses (unless private
/// targets are allowed), so the address connected to is always one that was checked.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow_private = self.allow_private;
        Box::pin(async move {
            // Port 0: the client puts in the URL's port.
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot resolve {host}: {e}")))?
                .collect();
            if allow_private {
                return Ok(Box::new(resolved.into_iter()) as Addrs);
            }
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match forbidden_reason(addr.ip()) {
                    None => true,
                    Some(reason) => {
                        refused.get_or_insert((addr.ip(), reason));
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some((address, reason))) => Err(TargetRefused {
                    host,
                    address,
                    reason,
                }
                .into()),
                (true, None) => Err(format!("cannot resolve {host}: no addresses found").into()),
                (false, _) => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The HTTP client for delivery attempts: no proxies from the environment (a proxy
/// would connect on our behalf to addresses we never checked), redirects never followed
/// (a redirect is a failed attempt), the guarded resolver, `user-agent: hookit/<version>`,
/// and `attempt_timeout` for connecting and for the whole attempt. Certificates are
/// checked against the built-in public roots plus `extra_roots`.
pub fn build_client(
    allow_private: bool,
    attempt_timeout: Duration,
    extra_roots: &ExtraRoots,
) -> reqwest::Client {
    extra_roots
        .apply(reqwest::Client::builder())
        .no_proxy()
        .redirect(redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver::new(allow_private)))
        .user_agent(concat!("hookit/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(attempt_timeout)
        .timeout(attempt_timeout)
        // Thousands of deliveries per second to one receiver need many warm connections;
        // idle ones are closed after 90 s.
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        // With rustls, building fails only if the TLS backend cannot start at all or a
        // root certificate is malformed; `ExtraRoots::load` built a client with the same
        // certificates when the configuration was loaded, so only the former remains,
        // which no configuration value can cause or repair.
        .expect("the HTTP client's TLS backend failed to initialise")
}

#[cfg(test)]
mod tests;
