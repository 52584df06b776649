//! Where the product may send requests, and which links it may hand out.
//!
//! The product posts follow-ups to outside URLs and sends customers links. A URL that names (or resolves to) the
//! deployment's own network would let a tenant's settings reach what the internet cannot: the instance metadata
//! service, a VPC endpoint, a loopback admin port. So:
//!
//! - sink URLs are `https`, without userinfo, on the deployment's allowlist of hosts ([`EgressPolicy::check_sink`]);
//! - links (booking, recordings) are `https` and without userinfo ([`check_link`]);
//! - no URL may name, or resolve to, a loopback, private, link-local (metadata included), CGNAT, multicast or
//!   otherwise non-public address ([`forbidden_range`]). Names are checked when the settings are saved and again by
//!   the resolver each request connects through (`shared::egress::resolve`), so a name re-pointed after the check (DNS rebinding) gets nothing.
//!
//! The local stack alone sets [`LOCAL_LOOPBACK_ENV`]: `http` and loopback addresses, for its own sink.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::config::{ConfigError, EnvSource};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("{0}")]
    Url(String),
    #[error("the host {host} is not one this deployment posts to (FollowUpSinkAllowedHosts)")]
    NotAllowed { host: String },
    #[error("{host} is a {range} address, which is never reached")]
    Forbidden { host: String, range: &'static str },
}

/// What a checked URL connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

/// The deployment's rules for requests it makes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Hosts sink URLs may name (lower case, no trailing dot). Empty: only the deployment's own sink.
    allowed_hosts: Vec<String>,
    /// Local stack only: `http` and loopback addresses are allowed.
    local_loopback: bool,
}

/// Set by the local stack only (never by the template): `http` and loopback addresses may be used.
pub const LOCAL_LOOPBACK_ENV: &str = "EGRESS_ALLOW_LOOPBACK";

impl EgressPolicy {
    /// `allowed_hosts`, plus the host of the deployment's own sink.
    pub fn new(allowed_hosts: &[String], own_sink: Option<&str>, local_loopback: bool) -> Self {
        let mut hosts: Vec<String> = allowed_hosts
            .iter()
            .map(|h| normal_host(h))
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(host) = own_sink
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(normal_host))
        {
            hosts.push(host);
        }
        hosts.sort();
        hosts.dedup();
        Self {
            allowed_hosts: hosts,
            local_loopback,
        }
    }

    /// `FOLLOWUP_SINK_ALLOWED_HOSTS` (comma-separated), `FOLLOWUP_SINK_URL`'s host, and the local setting.
    pub fn from_env(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let hosts = env.list_or("FOLLOWUP_SINK_ALLOWED_HOSTS", &[]);
        let own = env.var("FOLLOWUP_SINK_URL").filter(|u| !u.trim().is_empty());
        let local = env.parsed_or(LOCAL_LOOPBACK_ENV, false)?;
        Ok(Self::new(&hosts, own.as_deref(), local))
    }

    /// A URL follow-ups may be posted to. Pure: the name's addresses are checked by [`EgressPolicy::check_resolved`].
    pub fn check_sink(&self, url: &str) -> Result<Target, EgressError> {
        let target = self.check_url(url)?;
        if !self.allowed_hosts.contains(&target.host) {
            return Err(EgressError::NotAllowed { host: target.host });
        }
        Ok(target)
    }

    /// A link handed to customers or kept with a lead. Pure, like [`EgressPolicy::check_sink`], without the allowlist.
    pub fn check_link(&self, url: &str) -> Result<Target, EgressError> {
        self.check_url(url)
    }

    fn check_url(&self, url: &str) -> Result<Target, EgressError> {
        let bad = |why: &str| EgressError::Url(why.to_owned());
        if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(
                "must be an absolute URL of at most 2048 characters, without spaces",
            ));
        }
        let parsed = url::Url::parse(url).map_err(|e| bad(&format!("is not an absolute URL ({e})")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.local_loopback => {}
            _ => return Err(bad("must be an https:// URL")),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad("must not carry a user name or password"));
        }
        let port = parsed.port_or_known_default().unwrap_or(443);
        let target = match parsed.host() {
            Some(url::Host::Domain(d)) => {
                let host = normal_host(d);
                let local_name = self.local_loopback && host == "localhost";
                if !(host.contains('.') || local_name) {
                    return Err(bad("must name a host with a domain (example.com)"));
                }
                Target { host, port }
            }
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip), port)?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip), port)?,
            None => return Err(bad("must name a host")),
        };
        if parsed.scheme() == "http" && !is_loopback_target(&target) {
            return Err(bad("must be an https:// URL (http only to this machine, locally)"));
        }
        Ok(target)
    }

    fn check_ip(&self, ip: IpAddr, port: u16) -> Result<Target, EgressError> {
        self.check_addr(ip)?;
        Ok(Target {
            host: ip.to_string(),
            port,
        })
    }

    /// Refuses an address in a [`forbidden_range`] (loopback allowed by the local setting alone).
    pub fn check_addr(&self, ip: IpAddr) -> Result<(), EgressError> {
        match forbidden_range(ip) {
            Some("loopback") if self.local_loopback => Ok(()),
            Some(range) => Err(EgressError::Forbidden {
                host: ip.to_string(),
                range,
            }),
            None => Ok(()),
        }
    }

    /// The addresses a name resolved to, every one of them checked: a name with any forbidden address is refused
    /// whole. `Ok(None)` when there are none (nothing to refuse yet; a request would fail to connect). The lookup
    /// itself is `shared::egress::resolve`.
    pub fn check_resolved(
        &self,
        target: &Target,
        addrs: Vec<SocketAddr>,
    ) -> Result<Option<Vec<SocketAddr>>, EgressError> {
        for a in &addrs {
            self.check_addr(a.ip()).map_err(|e| match e {
                EgressError::Forbidden { range, .. } => EgressError::Forbidden {
                    host: format!("{} (resolves to {})", target.host, a.ip()),
                    range,
                },
                other => other,
            })?;
        }
        Ok((!addrs.is_empty()).then_some(addrs))
    }
}

fn is_loopback_target(target: &Target) -> bool {
    target.host == "localhost" || target.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Lower case, without a trailing dot (`Example.COM.` and `example.com` are one host).
fn normal_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The kind of non-public address `ip` is, if it is one. IPv4 inside IPv6 (mapped, compatible, NAT64) is judged as
/// the IPv4 address it carries.
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => embedded_v4(v6).map_or_else(|| forbidden_v6(v6), forbidden_v4),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_loopback() => "loopback",
        (169, 254, _) => "link-local (instance metadata)",
        (10, ..) | (192, 168, _) => "private",
        (172, b, _) if (16..=31).contains(&b) => "private",
        (100, b, _) if (64..=127).contains(&b) => "CGNAT",
        _ if ip.is_multicast() => "multicast",
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        _ if ip.is_broadcast() || a >= 240 => "reserved",
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "reserved",
        (198, b, _) if b == 18 || b == 19 => "reserved",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        // fd00:ec2::254 is the EC2 metadata service's IPv6 address, inside the unique-local range.
        x if x & 0xfe00 == 0xfc00 => "private (unique local)",
        x if x & 0xffc0 == 0xfe80 => "link-local",
        x if x & 0xff00 == 0xff00 => "multicast",
        0x2001 if s[1] == 0x0db8 => "reserved",
        _ => return None,
    })
}

/// The IPv4 address inside `::ffff:a.b.c.d`, `::a.b.c.d` and NAT64's `64:ff9b::a.b.c.d`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(tail);
    }
    (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]).then_some(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> EgressPolicy {
        EgressPolicy::new(
            &["hooks.partner.example".into()],
            Some("https://ai.example.com/followups"),
            false,
        )
    }

    #[test]
    fn sink_urls_are_https_on_the_allowlist() {
        let p = policy();
        assert!(
            p.check_sink("https://ai.example.com/tenant/1001").is_ok(),
            "the deployment's own sink host"
        );
        assert!(
            p.check_sink("https://HOOKS.partner.example./x").is_ok(),
            "case and trailing dot"
        );
        for (url, why) in [
            ("http://ai.example.com/x", "https"),
            ("https://evil.example.net/x", "allowlist"),
            ("https://ai.example.com@internal/x", "userinfo"),
            ("https://a.b@ai.example.com/x", "userinfo"),
            ("https://169.254.169.254/latest/meta-data/", "metadata"),
            ("https://10.0.0.1/", "private"),
            ("https://[::ffff:127.0.0.1]/", "mapped loopback"),
            ("https://localhost./", "no domain"),
            ("https://0x7f000001/", "hex loopback"),
            ("https://2130706433/", "decimal loopback"),
            ("ftp://ai.example.com/", "scheme"),
            ("https://ai.example.com/a b", "space"),
        ] {
            assert!(p.check_sink(url).is_err(), "{url}: {why}");
        }
    }

    #[test]
    fn links_need_no_allowlist_but_the_same_address_rules() {
        let p = policy();
        assert!(p.check_link("https://book.acme-hvac.com/?src=sms").is_ok());
        assert!(p.check_link("https://192.168.1.20/recording.mp3").is_err());
        assert!(p.check_link("https://user:pw@recordings.example.com/1").is_err());
        assert!(p.check_link("https://8.8.8.8/ok").is_ok(), "a public address literal");
    }

    #[test]
    fn the_local_setting_allows_this_machine_over_http_and_nothing_more() {
        let local = EgressPolicy::new(&[], Some("http://127.0.0.1:3000/_local/sink"), true);
        assert!(local.check_sink("http://127.0.0.1:3000/_local/sink").is_ok());
        assert!(
            local.check_sink("http://10.0.0.1:3000/x").is_err(),
            "private stays refused"
        );
        assert!(
            local.check_link("http://example.com/x").is_err(),
            "http only to this machine"
        );
        let deployed = EgressPolicy::new(&[], Some("http://127.0.0.1:3000/_local/sink"), false);
        assert!(deployed.check_sink("http://127.0.0.1:3000/_local/sink").is_err());
    }

    #[test]
    fn non_public_ranges() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            assert!(forbidden_range(ip(s)).is_some(), "{s}");
        }
        for s in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(forbidden_range(ip(s)), None, "{s}");
        }
    }
}
