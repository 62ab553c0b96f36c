// Command gvisor shows Sabre linked into gVisor's userspace network stack:
// two stacks joined by an in-memory link, each with a ports/gvisor
// Endpoint between its IP layer and the link, configured by the same
// ipsec commands an ike_rc holds (manual keys here; an ike.Daemon over
// ports/gvisor's IKE connection negotiates them instead, see `sabre
// demo`). A TCP echo then runs through ESP in transport mode.
//
//	go run ./examples/gvisor
package main

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/sabre-ipsec/sabre/cli"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ports/gvisor"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
)

// The hosts' commands: mirror images (each one's inbound SPI and key are
// the other's outbound ones). Example keys: make your own.
const (
	rcA = `ipsec policy -n a-b -o -t ESP -e AES128-GCM16 -m transport -p tcp -r 10.0.0.2 -s 10.0.0.1 -d 10.0.0.2
ipsec addsa -n a-b -e AES128-GCM16 -w 0x1001 -f 0x000102030405060708090a0b0c0d0e0f10111213 -x 0x2001 -g 0x202122232425262728292a2b2c2d2e2f30313233
`
	rcB = `ipsec policy -n b-a -o -t ESP -e AES128-GCM16 -m transport -p tcp -r 10.0.0.1 -s 10.0.0.2 -d 10.0.0.1
ipsec addsa -n b-a -e AES128-GCM16 -w 0x2001 -f 0x202122232425262728292a2b2c2d2e2f30313233 -x 0x1001 -g 0x000102030405060708090a0b0c0d0e0f10111213
`
)

// host is a gVisor stack with Sabre below its IP layer.
type host struct {
	stack *stack.Stack
	ep    *gvisor.Endpoint
	addr  netip.Addr
}

// newHost builds a stack on link, with Sabre's Endpoint wrapped around
// the link and the commands in rc applied to its engine.
func newHost(link stack.LinkEndpoint, addr netip.Addr, rc string) (*host, error) {
	policies := spd.NewDB()
	// Neighbour discovery and the like are let through (IPv6 needs it).
	if err := gvisor.InstallDefaultBypass(policies); err != nil {
		return nil, err
	}
	ep := gvisor.New(link, policies, sad.NewDB(), ipsec.Config{})
	env := &cli.Env{Engine: ep.Engine()}
	cmds, err := cli.ParseRC(strings.NewReader(rc), addr.String())
	if err != nil {
		return nil, err
	}
	for _, c := range cmds {
		if err := env.Exec(c.Args, io.Discard); err != nil {
			return nil, fmt.Errorf("%v: %w", c, err)
		}
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	if err := s.CreateNIC(1, ep); err != nil {
		return nil, fmt.Errorf("CreateNIC: %v", err)
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddrFromSlice(addr.AsSlice()).WithPrefix()}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		return nil, fmt.Errorf("AddProtocolAddress: %v", err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	return &host{stack: s, ep: ep, addr: addr}, nil
}

func (h *host) close() {
	h.stack.Close()
	h.stack.Wait()
}

// run builds the two hosts, echoes msg over TCP from A to B through ESP and
// reports what the engines counted to out.
func run(msg []byte, out io.Writer) error {
	linkA, linkB := pipe.New("", "", 1500)
	a, err := newHost(linkA, netip.MustParseAddr("10.0.0.1"), rcA)
	if err != nil {
		return err
	}
	defer a.close()
	b, err := newHost(linkB, netip.MustParseAddr("10.0.0.2"), rcB)
	if err != nil {
		return err
	}
	defer b.close()

	server := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFromSlice(b.addr.AsSlice()), Port: 7}
	ln, err := gonet.ListenTCP(b.stack, server, ipv4.ProtocolNumber)
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := gonet.DialTCP(a.stack, server, ipv4.ProtocolNumber)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(msg); err != nil {
		return err
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo returned %d bytes, sent %d", len(got), len(msg))
	}
	for _, h := range []*host{a, b} {
		s := h.ep.Engine().Stats().Snapshot()
		fmt.Fprintf(out, "%v: %d packets secured, %d opened\n", h.addr, s.OutPackets, s.InPackets)
	}
	fmt.Fprintf(out, "echoed %d bytes through ESP\n", len(got))
	return nil
}

func main() {
	if err := run(bytes.Repeat([]byte("sabre "), 10000), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gvisor example:", err)
		os.Exit(1)
	}
}
