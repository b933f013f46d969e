//! Network: outbound TCP destinations a step's mixin may connect to. The
//! sandbox turns them into a socket address check; with none, no socket opens.

use super::{CapabilityKind, GrantBuilder, GrantError};

/// An allowed outbound destination: a host (IP or name) and a port or any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// IP literal or DNS name, as written.
    pub host: String,
    /// Port, or `None` for any.
    pub port: Option<u16>,
}

impl HostPattern {
    /// Parse `host:port`, `host:*` or `[v6]:port`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?} must be host:port (port may be *)"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', ' ', '*']) {
            return Err(format!("{text:?}: invalid host {host:?}"));
        }
        let port = match port {
            "*" => None,
            p => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("{text:?}: invalid port {p:?}"))?,
            ),
        };
        Ok(HostPattern {
            host: host.to_string(),
            port,
        })
    }
}

/// The `hosts:` entry of a `grants:` block.
pub(super) fn add(b: &mut GrantBuilder<'_>, hosts: &[String]) -> Result<(), GrantError> {
    for (i, h) in hosts.iter().enumerate() {
        let pattern = HostPattern::parse(h).map_err(|e| b.error(&format!(".hosts[{i}]"), e))?;
        if !b.grant.hosts.contains(&pattern) {
            b.note(CapabilityKind::Host, h.clone());
            b.grant.hosts.push(pattern);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        let p = HostPattern::parse("registry.example:443").unwrap();
        assert_eq!(p.host, "registry.example");
        assert_eq!(p.port, Some(443));
    }

    #[test]
    fn any_port_and_ipv6() {
        assert_eq!(HostPattern::parse("10.0.0.1:*").unwrap().port, None);
        let v6 = HostPattern::parse("[::1]:8080").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.port, Some(8080));
    }

    #[test]
    fn refused_patterns() {
        for bad in [
            "nohost", ":80", "*:80", "a b:80", "h/x:80", "h:http", "h:70000",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad} must be refused");
        }
    }
}
