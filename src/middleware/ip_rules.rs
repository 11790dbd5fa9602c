//! IP allow and deny lists on the client IP: deny wins; a non-empty allow list refuses every
//! address it does not hold. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`), as dual-stack
//! listeners report IPv4 peers, are matched as IPv4 — and so are rules written that way.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

use crate::config::policy::IpRules;

/// The compiled lists (canonical form, overlapping networks merged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IpFilter {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl IpFilter {
    /// Compiles `rules`.
    pub fn new(rules: &IpRules) -> IpFilter {
        IpFilter {
            allow: compile(&rules.allow),
            deny: compile(&rules.deny),
        }
    }

    /// Whether `ip` may pass: not in a deny network, and in an allow network when there are
    /// any.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if self.deny.iter().any(|n| n.contains(&ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip))
    }
}

fn compile(nets: &[IpNet]) -> Vec<IpNet> {
    let canonical: Vec<IpNet> = nets.iter().map(|n| canonical_net(n.trunc())).collect();
    IpNet::aggregate(&canonical)
}

/// `::ffff:a.b.c.d/(96+n)` -> `a.b.c.d/n`.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        _ => net,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> IpFilter {
        let p = |l: &[&str]| l.iter().map(|n| n.parse().unwrap()).collect();
        IpFilter::new(&IpRules {
            allow: p(allow),
            deny: p(deny),
        })
    }

    fn ok(f: &IpFilter, ip: &str) -> bool {
        f.allows(ip.parse().unwrap())
    }

    #[test]
    fn empty_rules_allow_everything() {
        let f = filter(&[], &[]);
        assert!(ok(&f, "1.2.3.4") && ok(&f, "2001:db8::1"));
    }

    #[test]
    fn deny_list_alone_refuses_only_its_networks() {
        let f = filter(&[], &["192.0.2.0/24", "2001:db8::/32"]);
        assert!(!ok(&f, "192.0.2.77"));
        assert!(!ok(&f, "2001:db8:1::1"));
        assert!(ok(&f, "192.0.3.1"));
        assert!(ok(&f, "2001:db9::1"));
    }

    #[test]
    fn allow_list_refuses_the_rest_and_deny_wins() {
        let f = filter(&["10.0.0.0/8", "2001:db8::/32"], &["10.6.0.0/16"]);
        assert!(ok(&f, "10.1.2.3"));
        assert!(ok(&f, "2001:db8::5"));
        assert!(!ok(&f, "10.6.1.1"), "deny wins over allow");
        assert!(!ok(&f, "11.0.0.1"));
        assert!(!ok(&f, "2001:db9::5"));
        // Host bits in a rule are ignored.
        let f = filter(&["10.1.2.3/8"], &[]);
        assert!(ok(&f, "10.200.0.1"));
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_rules() {
        let f = filter(&["10.0.0.0/8"], &["10.6.0.0/16"]);
        assert!(ok(&f, "::ffff:10.1.2.3"));
        assert!(!ok(&f, "::ffff:10.6.0.1"));
        assert!(!ok(&f, "::ffff:11.0.0.1"));
        // Rules written as mapped IPv6 match plain IPv4 too.
        let f = filter(&[], &["::ffff:192.0.2.0/120"]);
        assert!(!ok(&f, "192.0.2.9"));
        assert!(!ok(&f, "::ffff:192.0.2.9"));
        assert!(ok(&f, "192.0.3.9"));
        // A short IPv6 prefix covering the mapped range stays IPv6 and does not hit IPv4.
        let f = filter(&[], &["::/0"]);
        assert!(!ok(&f, "2001:db8::1"));
        assert!(ok(&f, "192.0.2.9"));
    }
}
