//! The LAN socket: where the driver sends and hears discovery
//! announcements (`node::discovery`).
//!
//! One UDP socket bound to the discovery port on every address, with
//! address and port reuse so that several rumor processes on one host all
//! hear the group. It joins the multicast group on each interface
//! announcements go out on (`interfaces::multicast_interfaces`: the
//! listening address's own, or every multicast interface when listening on
//! 0.0.0.0), and sends each announcement on each of them, with a TTL of 1:
//! an announcement never leaves the link. Interfaces are looked at again
//! now and then ([`LanSocket::refresh`]): when they change the node
//! announces again.

use std::collections::BTreeSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use mio::net::UdpSocket;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockRef, Socket, Type};

use super::interfaces::{interface_index, multicast_interfaces};

/// The multicast group of announcements: administratively scoped (RFC
/// 2365), and sent with TTL 1, so never routed off the link.
pub const DISCOVERY_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 82, 77);
/// The UDP port of announcements.
pub const DISCOVERY_PORT: u16 = 47_389;

/// Where announcements go.
pub fn discovery_addr() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(DISCOVERY_GROUP, DISCOVERY_PORT))
}

pub struct LanSocket {
    socket: UdpSocket,
    /// The address the peer listens on: which interfaces are ours.
    listen: SocketAddr,
    /// Interface addresses announcements go out on (one per interface).
    interfaces: Vec<Ipv4Addr>,
    /// Indexes of the interfaces the group is joined on. (By index: an
    /// interface whose address changes stays a member, and joining it
    /// again under its new address would fail.)
    joined: BTreeSet<u32>,
}

impl LanSocket {
    /// Binds the discovery port (shared) and joins the group on the
    /// interfaces of a peer listening on `listen`. IPv4 only.
    pub fn open(listen: SocketAddr) -> io::Result<LanSocket> {
        if !listen.is_ipv4() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "LAN discovery is IPv4 only for now",
            ));
        }
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        #[cfg(unix)]
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, DISCOVERY_PORT)).into())?;
        socket.set_multicast_ttl_v4(1)?;
        // Other rumor processes on this host hear it too.
        socket.set_multicast_loop_v4(true)?;
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

    /// The interfaces announcements go out on.
    pub fn interfaces(&self) -> &[Ipv4Addr] {
        &self.interfaces
    }

    /// Looks at the interfaces again: joins the group on new ones, leaves
    /// it on those gone. True if they changed (announce again).
    pub fn refresh(&mut self) -> bool {
        let now: Vec<(Ipv4Addr, u32)> = multicast_interfaces(self.listen)
            .into_iter()
            .filter_map(|ip| Some((ip, interface_index(ip)?)))
            .collect();
        let sock = SockRef::from(&self.socket);
        let indexes: BTreeSet<u32> = now.iter().map(|&(_, index)| index).collect();
        for &gone in self.joined.difference(&indexes) {
            let _ =
                sock.leave_multicast_v4_n(&DISCOVERY_GROUP, &InterfaceIndexOrAddress::Index(gone));
        }
        self.joined.retain(|i| indexes.contains(i));
        let mut interfaces = Vec::with_capacity(now.len());
        let mut sent_on = BTreeSet::new();
        for (ip, index) in now {
            // (A join fails on an interface that takes no multicast: it
            // is left out, and tried again at the next refresh.)
            let joined = self.joined.contains(&index)
                || sock
                    .join_multicast_v4_n(&DISCOVERY_GROUP, &InterfaceIndexOrAddress::Index(index))
                    .is_ok();
            // Sent once per interface, from its first address.
            if joined && sent_on.insert(index) {
                self.joined.insert(index);
                interfaces.push(ip);
            }
        }
        let changed = interfaces != self.interfaces;
        self.interfaces = interfaces;
        changed
    }

    /// Sends `bytes` to the group on every interface; how many sends failed.
    pub fn send(&self, bytes: &[u8]) -> u64 {
        let sock = SockRef::from(&self.socket);
        let to = discovery_addr().into();
        let mut failed = 0;
        for iface in &self.interfaces {
            let sent = sock
                .set_multicast_if_v4(iface)
                .and_then(|()| sock.send_to(bytes, &to));
            failed += u64::from(sent.is_err());
        }
        failed
    }

    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.socket.recv_from(buf)
    }
}
