// Package tun runs Sabre as a userspace VPN on Linux: a TUN device carries
// the cleartext side, raw IP sockets and UDP sockets the protected side, and
// an ipsec.Engine sits between them.
//
//	TUN read ──► Engine.Encapsulate ──► raw ESP/AH socket   (protocol 50/51)
//	                                └─► UDP socket :4500    (RFC 3948 ESP-in-UDP)
//	raw ESP/AH socket ─┐
//	UDP socket :4500 ──┴─► Engine.Decapsulate ──► TUN write
//	UDP :500, non-ESP marker on :4500 ──► Config.IKE
//
// Packets move in batches, as in wireguard-go: the TUN is opened with
// virtio-net headers, so one read returns a TCP or UDP super-packet that
// golang.zx2c4.com/wireguard/tun splits into segments, and one write
// coalesces in-order segments back (GRO). The UDP sockets are
// wireguard-go's conn.StdNetBind: recvmmsg/sendmmsg with UDP GSO and GRO
// where the kernel has them. The raw sockets use recvmmsg/sendmmsg.
// Every packet is read at pktbuf.DefaultHeadroom into a buffer from
// pktbuf.DefaultPool, so the engine writes the ESP and outer headers in
// front of it in place; received ESP is opened in place too and written to
// the TUN from where its inner packet starts.
//
// # The wire side
//
// Raw sockets: the IPv4 and IPv6 raw sockets for ESP and AH set IP_HDRINCL
// (IPV6_HDRINCL), so the outer header the engine built (its TOS/ECN, DF,
// TTL) goes on the wire as built. The kernel does not fragment such
// packets, so the device keeps outer packets within Config.PathMTU: an
// inner packet that would exceed it once secured is dropped and its
// sender gets an ICMP "fragmentation needed" / "packet too big" with the
// inner MTU that fits (RFC 1191, RFC 8201), as from a router on the path.
// The default TUN MTU of 1400 leaves 100 bytes for the outer header and the
// ESP overhead, enough for ESP over IPv4 and IPv6. An IPv4 raw socket delivers the IP header with the packet; an
// IPv6 one delivers the payload only, and the device rebuilds the IPv6
// header from the source address and the IPV6_PKTINFO destination (AH over
// IPv6 therefore works only without extension headers in front of AH).
//
// UDP-encapsulated ESP is sent from the NAT-T socket (port 4500) to the
// outer destination and port the engine wrote, without the outer IP and
// UDP headers, which the kernel builds. Received datagrams get an IP and a
// UDP header rebuilt in front of them (from the sender's address and the
// IP_PKTINFO destination) so that Decapsulate sees the packet that was on
// the wire.
//
// # Routing (the operator's part)
//
// Sabre secures what the kernel routes into the TUN device. The Device
// installs no routes itself; `sabre run` routes its tunnel policies'
// remote subnets into it (unless -routes=false), as below for a tunnel
// between 10.1.0.0/24 (here) and 10.2.0.0/24 (behind the peer):
//
//	ip addr add 10.1.0.1/24 dev sabre0     # optional: an inner address of this host
//	ip route add 10.2.0.0/24 dev sabre0
//
// Transport mode protects traffic to the peer's own address, so the route
// to the peer must lead into the TUN for everything but Sabre's own
// packets. Start the daemon with -fwmark (Config.FwMark) and route
// unmarked traffic through the TUN, as wg-quick does:
//
//	ip route add 192.0.2.2/32 dev sabre0 table 51820
//	ip rule add to 192.0.2.2 not fwmark 0x5ab lookup 51820
//
// # Bypass
//
// A packet read from the TUN that matches a BYPASS policy (the IKE bypass
// policies, for instance) was routed into the tunnel but is not to be
// secured. The device has no other interface to send it on, so it drops it
// and counts it in Stats.BypassDropped; route such traffic outside the TUN.
package tun
