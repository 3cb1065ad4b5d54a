//! The LAN socket: where the driver sends and hears discovery
//! announcements (`node::discovery`).
//!
//! One UDP socket bound to the discovery port on every address, with
//! address and port reuse so that several rumor processes on one host all
//! hear the group. It is of the family the peer listens in: a peer on an
//! IPv4 address announces to an IPv4 multicast group, one on an IPv6
//! address to a link-local IPv6 group (`ff02::`, which every IPv6 link
//! has, even one with no IPv4 address at all; members then reach each
//! other at their link-local addresses). It joins the group on each
//! interface announcements go out on (`interfaces::multicast_interfaces`:
//! the listening address's own, or every multicast interface when
//! listening on 0.0.0.0 or ::), and sends each announcement on each of
//! them, with a TTL (hop limit) of 1: an announcement never leaves the
//! link. Interfaces are looked at again now and then
//! ([`LanSocket::refresh`]): when they change the node announces again.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use mio::net::UdpSocket;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockRef, Socket, Type};

use super::interfaces::multicast_interfaces;

/// The IPv4 multicast group of announcements: administratively scoped
/// (RFC 2365), and sent with TTL 1, so never routed off the link.
pub const DISCOVERY_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 82, 77);
/// The IPv6 multicast group of announcements: link-local scope (`ff02::`),
/// so never routed off the link; the last bytes spell "rumor".
pub const DISCOVERY_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0x72, 0x756d, 0x6f72);
/// The UDP port of announcements.
pub const DISCOVERY_PORT: u16 = 47_389;

/// Where announcements go (IPv4).
pub fn discovery_addr() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(DISCOVERY_GROUP, DISCOVERY_PORT))
}

/// Where the announcements of a peer listening on `listen` go: the group
/// of its address family.
pub fn discovery_addr_for(listen: SocketAddr) -> SocketAddr {
    match listen {
        SocketAddr::V4(_) => discovery_addr(),
        SocketAddr::V6(_) => {
            SocketAddr::V6(SocketAddrV6::new(DISCOVERY_GROUP_V6, DISCOVERY_PORT, 0, 0))
        }
    }
}

pub struct LanSocket {
    socket: UdpSocket,
    /// The address the peer listens on: which interfaces are ours.
    listen: SocketAddr,
    /// One address per interface announcements go out on, with its index.
    interfaces: Vec<(IpAddr, u32)>,
    /// Indexes of the interfaces the group is joined on. (By index: an
    /// interface whose address changes stays a member, and joining it
    /// again under its new address would fail.)
    joined: BTreeSet<u32>,
}

impl LanSocket {
    /// Binds the discovery port (shared) of `listen`'s family and joins
    /// the group on the interfaces of a peer listening there.
    pub fn open(listen: SocketAddr) -> io::Result<LanSocket> {
        let (domain, any) = match listen {
            SocketAddr::V4(_) => (Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            SocketAddr::V6(_) => (Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        #[cfg(unix)]
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        if listen.is_ipv6() {
            // IPv6 announcements only: IPv4 ones go to the IPv4 group.
            socket.set_only_v6(true)?;
        }
        socket.bind(&SocketAddr::new(any, DISCOVERY_PORT).into())?;
        // Other rumor processes on this host hear it too.
        if listen.is_ipv4() {
            socket.set_multicast_ttl_v4(1)?;
            socket.set_multicast_loop_v4(true)?;
        } else {
            socket.set_multicast_hops_v6(1)?;
            socket.set_multicast_loop_v6(true)?;
        }
        let std: std::net::UdpSocket = socket.into();
        let mut lan = LanSocket {
            socket: UdpSocket::from_std(std),
            listen,
            interfaces: Vec::new(),
            joined: BTreeSet::new(),
        };
        lan.refresh();
        Ok(lan)
    }

    pub fn socket_mut(&mut self) -> &mut UdpSocket {
        &mut self.socket
    }

    /// Where announcements go.
    pub fn group(&self) -> SocketAddr {
        discovery_addr_for(self.listen)
    }

    /// The interfaces announcements go out on (by one address of each).
    pub fn interfaces(&self) -> Vec<IpAddr> {
        self.interfaces.iter().map(|&(ip, _)| ip).collect()
    }

    /// Looks at the interfaces again: joins the group on new ones, leaves
    /// it on those gone. True if they changed (announce again).
    pub fn refresh(&mut self) -> bool {
        let now = multicast_interfaces(self.listen);
        let sock = SockRef::from(&self.socket);
        let indexes: BTreeSet<u32> = now.iter().map(|&(_, index)| index).collect();
        for &gone in self.joined.difference(&indexes) {
            let _ = match self.listen {
                SocketAddr::V4(_) => sock
                    .leave_multicast_v4_n(&DISCOVERY_GROUP, &InterfaceIndexOrAddress::Index(gone)),
                SocketAddr::V6(_) => sock.leave_multicast_v6(&DISCOVERY_GROUP_V6, gone),
            };
        }
        self.joined.retain(|i| indexes.contains(i));
        let mut interfaces = Vec::with_capacity(now.len());
        let mut sent_on = BTreeSet::new();
        for (ip, index) in now {
            // (A join fails on an interface that takes no multicast: it
            // is left out, and tried again at the next refresh.)
            let joined = self.joined.contains(&index)
                || match self.listen {
                    SocketAddr::V4(_) => sock.join_multicast_v4_n(
                        &DISCOVERY_GROUP,
                        &InterfaceIndexOrAddress::Index(index),
                    ),
                    SocketAddr::V6(_) => sock.join_multicast_v6(&DISCOVERY_GROUP_V6, index),
                }
                .is_ok();
            // Sent once per interface, from its first address.
            if joined && sent_on.insert(index) {
                self.joined.insert(index);
                interfaces.push((ip, index));
            }
        }
        let changed = interfaces != self.interfaces;
        self.interfaces = interfaces;
        changed
    }

    /// Sends `bytes` to the group on every interface; how many sends failed.
    pub fn send(&self, bytes: &[u8]) -> u64 {
        let sock = SockRef::from(&self.socket);
        let mut failed = 0;
        for &(ip, index) in &self.interfaces {
            let sent = match ip {
                IpAddr::V4(v4) => sock
                    .set_multicast_if_v4(&v4)
                    .and_then(|()| sock.send_to(bytes, &discovery_addr().into())),
                IpAddr::V6(_) => {
                    let to = SocketAddrV6::new(DISCOVERY_GROUP_V6, DISCOVERY_PORT, 0, index);
                    sock.set_multicast_if_v6(index)
                        .and_then(|()| sock.send_to(bytes, &SocketAddr::V6(to).into()))
                }
            };
            failed += u64::from(sent.is_err());
        }
        failed
    }

    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.socket.recv_from(buf)
    }
}
