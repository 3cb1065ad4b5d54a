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

/// The IPv4 interface addresses LAN announcements go out on and are
/// heard on for a peer listening on `local`: bound to one IPv4 address,
/// that one (the peer is reachable there only; loopback stays on this
/// host); bound to 0.0.0.0, every non-loopback interface that is up and
/// takes multicast. Sorted, no duplicates. Empty for IPv6.
pub fn multicast_interfaces(local: SocketAddr) -> Vec<Ipv4Addr> {
    let IpAddr::V4(ip) = local.ip() else {
        return Vec::new();
    };
    if !ip.is_unspecified() {
        return vec![ip];
    }
    let mut ips: Vec<Ipv4Addr> = multicast_interface_ips()
        .into_iter()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// The IPv4 addresses of interfaces that are up and take multicast.
#[cfg(unix)]
fn multicast_interface_ips() -> Vec<Ipv4Addr> {
    use nix::net::if_::InterfaceFlags;
    let Ok(interfaces) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    interfaces
        .filter(|i| {
            i.flags
                .contains(InterfaceFlags::IFF_UP | InterfaceFlags::IFF_MULTICAST)
        })
        .filter_map(|i| Some(i.address?.as_sockaddr_in()?.ip()))
        .collect()
}

#[cfg(not(unix))]
fn multicast_interface_ips() -> Vec<Ipv4Addr> {
    Vec::new()
}

/// The index of the interface that holds `ip`, if one does. (Multicast
/// groups are joined per interface, not per address: an interface whose
/// address changes stays a member.)
#[cfg(unix)]
pub fn interface_index(ip: Ipv4Addr) -> Option<u32> {
    let interfaces = nix::ifaddrs::getifaddrs().ok()?;
    let name = interfaces
        .filter(|i| i.address.and_then(|a| a.as_sockaddr_in().map(|s| s.ip())) == Some(ip))
        .map(|i| i.interface_name)
        .next()?;
    nix::net::if_::if_nametoindex(name.as_str()).ok()
}

#[cfg(not(unix))]
pub fn interface_index(_ip: Ipv4Addr) -> Option<u32> {
    None
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
        assert_eq!(multicast_interfaces(one), vec![Ipv4Addr::LOCALHOST]);
        assert!(multicast_interfaces("[::1]:7001".parse().unwrap()).is_empty());
        let all = multicast_interfaces("0.0.0.0:7001".parse().unwrap());
        assert!(all.iter().all(|ip| !ip.is_loopback()), "{all:?}");
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
