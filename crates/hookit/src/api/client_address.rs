//! The address of the client behind a request: the peer itself, or — when the peer is
//! a trusted proxy (`HOOKIT_TRUSTED_PROXIES`) — the right-most `X-Forwarded-For`
//! address that is not one.

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The networks whose `X-Forwarded-For` hookit believes. Empty: believe none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        TrustedProxies(networks)
    }

    /// Parses a comma-separated list of CIDRs or single addresses (`10.0.0.0/8,
    /// 192.0.2.7, ::1`); an empty list trusts no proxy.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for item in text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let network = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "{item:?} is not a CIDR (e.g. 10.0.0.0/8) or an IP address; \
                         separate several with commas"
                    )
                })?;
            networks.push(network);
        }
        Ok(TrustedProxies(networks))
    }

    /// Whether `address` is one of the trusted proxies.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                // An unreadable hop was written by someone untrusted: stop at the last
                // trusted one.
                Err(_) => return client,
                Ok(address) => {
                    client = canonical(address);
                    if !self.trusts(client) {
                        return client;
                    }
                }
            }
        }
        client
    }

    /// The client of `request` (served with connect info).
    pub fn client_of(&self, request: &Request) -> IpAddr {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        self.client(peer, request.headers())
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) as the IPv4 address they are.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", forwarded.parse().expect("header"));
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let proxies = TrustedProxies::default();
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &headers("203.0.113.9")),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_forwarded_address_is_the_client() {
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").expect("parse");
        let chain = headers("198.51.100.1, 203.0.113.9, 10.1.2.3");
        assert_eq!(proxies.client(ip("127.0.0.1"), &chain), ip("203.0.113.9"));
        assert_eq!(
            proxies.client(ip("192.0.2.1"), &chain),
            ip("192.0.2.1"),
            "untrusted peer"
        );
        assert_eq!(
            proxies.client(ip("::ffff:127.0.0.1"), &chain),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &headers("junk, 10.0.0.2")),
            ip("10.0.0.2"),
            "stops at an unreadable hop"
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn parse_names_the_bad_entry() {
        let err = TrustedProxies::parse("10.0.0.0/8, nope").expect_err("invalid");
        assert!(err.contains("\"nope\""), "{err}");
        assert_eq!(
            TrustedProxies::parse(" ").expect("empty"),
            TrustedProxies::default()
        );
    }
}
