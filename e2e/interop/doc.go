// Package interop holds Sabre's interoperability tests against strongSwan
// 5.9: charon with the kernel-libipsec plugin (a userspace data plane on a
// TUN device, ESP always in UDP on port 4500) runs in network namespaces
// joined by veth pairs, each instance in a private mount namespace with its
// own /run, strongswan.conf and vici socket, driven by swanctl.
//
// The tests first prove the harness with strongSwan on both ends (three
// IKE/ESP suites: ping, a TCP transfer, swanctl --list-sas, terminate),
// then put `sabre run` on one end, as initiator (a ping ACQUIREs the
// negotiation) and as responder. A third namespace in the middle NATs the
// initiator (nftables masquerade: NAT detection, the float to 4500,
// NAT-keepalives on the wire), and nftables dropping 30% of IKE makes
// 20 successive handshakes complete only by retransmission.
//
// The Sabre cases skip with "sabre run has no IKE yet" while the daemon
// reports `ike remote` lines as not applied.
//
// The tests need root, iproute2, util-linux (unshare, nsenter),
// /dev/net/tun, strongSwan (Debian: strongswan-charon strongswan-swanctl
// libstrongswan-standard-plugins libcharon-extra-plugins) and, for the NAT
// and loss cases, nft (Debian: nftables). They skip without root, ip or
// strongSwan, and fail without nft. Run them with
//
//	go test ./e2e/interop -v
//
// SABRE_INTEROP_BIN=path runs that sabre binary instead of building
// ./cmd/sabre. SABRE_INTEROP_KEEP=dir copies the charon and sabre logs and the
// generated configuration files of every test into dir.
package interop
