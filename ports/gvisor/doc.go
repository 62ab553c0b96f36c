// Package gvisor links Sabre's IPsec into gVisor's userspace network stack
// (gvisor.dev/gvisor/pkg/tcpip). An Endpoint is a stack.LinkEndpoint that
// wraps another one, as gVisor's sniffer does: every IP packet the stack
// sends goes through Engine.Encapsulate on its way to the child, and every
// IP packet the child receives goes through Engine.Decapsulate on its way
// up.
//
//	stack (TCP, UDP, ICMP, IPv4, IPv6, ARP)
//	   │ WritePackets            ▲ DeliverNetworkPacket
//	   ▼                         │
//	Endpoint: Encapsulate        Decapsulate
//	   │                         ▲
//	   ▼                         │
//	child (ethernet, fdbased, channel, pipe, ...)
//
// gVisor's packet buffers are chains of views with no headroom that Sabre
// could write its headers into, so each IP packet is copied once into a
// pktbuf.Buffer with head- and tailroom, whose storage is a view from
// gVisor's chunk pool. The engine works on it in place, and the view
// becomes the payload of a new PacketBuffer, which goes to the child (after
// the child's AddHeader) or up to the stack. Packets that bypass IPsec go on
// unchanged; ARP and other non-IP packets are not shown to the engine.
// Dropping a packet is not an error towards the stack, as with gVisor's
// own firewall; the engine counts it under its XE_* reason.
//
// # What the stack must not do
//
// Checksum offload: once a packet is encrypted nobody can complete its
// checksum, and a decrypted packet's checksum was never checked by a NIC.
// Capabilities therefore masks CapabilityTXChecksumOffload and
// CapabilityRXChecksumOffload from the child's, and the Endpoint reports no
// segmentation offload (GSOMaxSize 0, GSONotSupported): otherwise TCP hands
// down 64 KiB segments with partial checksums that no one finishes.
//
// MTU: MTU is the child's MTU less MaxOverhead, the most ESP can add, so
// that TCP sizes its segments to fit the link once secured.
//
// # Fragments
//
// gVisor fragments a datagram larger than MTU before the Endpoint sees it,
// and transport mode cannot protect a fragment (RFC 4301 §7). The
// Endpoint therefore reassembles the fragments the stack sends (they come
// back to back) and encapsulates the whole datagram. An outer packet larger
// than the child's MTU is then fragmented by the Endpoint itself (RFC 791
// §3.2; RFC 8200 §4.5, as the packet's source). A tunnel-mode IPv4 outer
// header with DF set (SP_DF_SET, SP_DF_COPY) forbids that: the packet is
// dropped and counted in Stats.TooBig (RFC 4301 §8.1). A transport-mode
// packet keeps the stack's header, whose DF gVisor sets for path MTU
// discovery on datagrams it fragments all the same; the Endpoint, acting
// for the same sender, fragments those. Inbound, outer fragments reach the
// Endpoint before gVisor's reassembly: Decapsulate keeps them (Pending) and
// returns the whole datagram with its last fragment.
//
// # Engine-generated packets
//
// Dummy packets (RFC 4303 §2.6) and packets held while their SAs were
// negotiated leave the engine through Config.Output, which New points at
// Endpoint.Output. Such a packet has no route of the stack's, so when the
// child resolves link addresses (ethernet) Output uses the link addresses
// of the last packet the Endpoint secured (or saw held) towards the same
// outer destination; without one the packet is dropped and counted in
// Stats.NoLinkAddress.
//
// Link addresses in general: an outer packet goes to the link address
// that the stack resolved for the inner packet's next hop. A tunnel whose
// remote endpoint is reached through another next hop than the traffic it
// protects needs a route for the protected prefix via that endpoint.
//
// # IPv6 neighbour discovery
//
// The engine applies the SPD to every IP packet, neighbour discovery
// included: without a BYPASS policy for it an IPv6 host cannot resolve its
// peer and nothing flows. InstallDefaultBypass adds one.
//
// # Concurrency
//
// WritePackets is called concurrently, and through pipe-like links it
// nests: a write on one stack delivers on the other, whose reply is written
// on the same goroutine. The Endpoint holds no lock while it calls the
// child or the stack; the engine and the reassemblers lock only inside
// their own calls.
//
// Encryption runs on the goroutine that calls WritePackets. Without a
// queueing discipline that is the TCP endpoint's, under its lock; give the
// NIC gVisor's FIFO queueing discipline (stack.NICOptions.QDisc, as runsc
// does) and it runs on the queue's goroutine, beside the stack
// (BenchmarkGVisorTCP measures both).
package gvisor
