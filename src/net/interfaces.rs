//! Where this peer can be reached: the addresses an invite ticket lists.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The addresses a peer listening on `local` may be reached at. Bound to
/// one address, that address alone; bound to every interface (0.0.0.0 or
/// ::), each non-loopback interface address of the same family (IPv6 link
/// local ones left out: they need an interface to be of use), then the
/// loopback address, all with the listening port. Never empty.
pub fn reachable_addrs(local: SocketAddr) -> Vec<SocketAddr> {
    if !local.ip().is_unspecified() {
        return vec![local];
    }
    let port = local.port();
    let mut addrs: Vec<SocketAddr> = interface_ips()
        .into_iter()
        .filter(|ip| ip.is_ipv4() == local.is_ipv4() || local.is_ipv6())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified() && !is_ipv6_link_local(ip))
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    addrs.sort_by_key(|a| (a.is_ipv6(), *a));
    addrs.dedup();
    let loopback = match local {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    };
    addrs.push(SocketAddr::new(loopback, port));
    addrs
}

/// The interfaces LAN announcements go out on and are heard on for a
/// peer listening on `local`, as one address of each and its index.
/// Bound to one address, the interface that holds it (the peer is
/// reachable there only; loopback stays on this host). Bound to 0.0.0.0,
/// every non-loopback interface that is up and takes multicast, by its
/// IPv4 addresses; bound to ::, the same by their IPv6 link-local
/// addresses (every IPv6 link has one, with or without IPv4). Sorted, no
/// duplicates.
pub fn multicast_interfaces(local: SocketAddr) -> Vec<(IpAddr, u32)> {
    let addrs = interface_addrs();
    let ip = local.ip();
    if !ip.is_unspecified() {
        return addrs
            .into_iter()
            .filter(|a| a.ip == ip)
            .map(|a| (a.ip, a.index))
            .take(1)
            .collect();
    }
    let mut found: Vec<(IpAddr, u32)> = addrs
        .into_iter()
        .filter(|a| a.multicast && !a.ip.is_loopback())
        .filter(|a| match a.ip {
            IpAddr::V4(v4) => local.is_ipv4() && !v4.is_unspecified(),
            IpAddr::V6(_) => local.is_ipv6() && is_ipv6_link_local(&a.ip),
        })
        .map(|a| (a.ip, a.index))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// One address of an interface that is up.
struct InterfaceAddr {
    ip: IpAddr,
    /// The interface's index (what multicast groups are joined on).
    index: u32,
    /// The interface takes multicast (and is not loopback-only).
    multicast: bool,
}

#[cfg(unix)]
fn interface_addrs() -> Vec<InterfaceAddr> {
    use nix::net::if_::InterfaceFlags;
    let Ok(interfaces) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    interfaces
        .filter(|i| i.flags.contains(InterfaceFlags::IFF_UP))
        .filter_map(|i| {
            let addr = i.address?;
            let ip = match (addr.as_sockaddr_in(), addr.as_sockaddr_in6()) {
                (Some(v4), _) => IpAddr::V4(v4.ip()),
                (None, Some(v6)) => IpAddr::V6(v6.ip()),
                (None, None) => return None,
            };
            let index = nix::net::if_::if_nametoindex(i.interface_name.as_str()).ok()?;
            Some(InterfaceAddr {
                ip,
                index,
                multicast: i.flags.contains(InterfaceFlags::IFF_MULTICAST),
            })
        })
        .collect()
}

#[cfg(not(unix))]
fn interface_addrs() -> Vec<InterfaceAddr> {
    Vec::new()
}

fn is_ipv6_link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

/// Every address of every interface that is up (none if the OS will not
/// say: the ticket then holds the loopback address only).
#[cfg(unix)]
fn interface_ips() -> Vec<IpAddr> {
    use nix::net::if_::InterfaceFlags;
    let Ok(interfaces) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    interfaces
        .filter(|i| i.flags.contains(InterfaceFlags::IFF_UP))
        .filter_map(|i| {
            let addr = i.address?;
            if let Some(v4) = addr.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect()
}

#[cfg(not(unix))]
fn interface_ips() -> Vec<IpAddr> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_stay_where_the_peer_is_reachable() {
        let one: SocketAddr = "127.0.0.1:7001".parse().unwrap();
        let lo = multicast_interfaces(one);
        assert_eq!(lo.len(), 1, "{lo:?}");
        assert_eq!(lo[0].0, IpAddr::V4(Ipv4Addr::LOCALHOST));
        let all = multicast_interfaces("0.0.0.0:7001".parse().unwrap());
        assert!(
            all.iter().all(|(ip, _)| ip.is_ipv4() && !ip.is_loopback()),
            "{all:?}"
        );
        assert!(!all.iter().any(|&(_, index)| index == lo[0].1), "{all:?}");
        // Bound to ::, IPv6 link-local addresses only.
        let all6 = multicast_interfaces("[::]:7001".parse().unwrap());
        assert!(
            all6.iter().all(|(ip, _)| is_ipv6_link_local(ip)),
            "{all6:?}"
        );
        // An address no interface holds: nowhere.
        assert!(multicast_interfaces("192.0.2.1:7001".parse().unwrap()).is_empty());
    }

    #[test]
    fn a_peer_bound_to_one_address_is_reached_there_only() {
        let local: SocketAddr = "127.0.0.1:7001".parse().unwrap();
        assert_eq!(reachable_addrs(local), vec![local]);
    }

    #[test]
    fn a_peer_bound_everywhere_lists_its_interfaces_then_loopback() {
        let addrs = reachable_addrs("0.0.0.0:7001".parse().unwrap());
        assert_eq!(addrs.last(), Some(&"127.0.0.1:7001".parse().unwrap()));
        for a in &addrs {
            assert_eq!(a.port(), 7001);
            assert!(a.is_ipv4(), "{a}");
            assert!(!a.ip().is_unspecified(), "{a}");
        }
        assert_eq!(addrs.iter().filter(|a| a.ip().is_loopback()).count(), 1);
    }
}
