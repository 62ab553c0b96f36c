// Command keymanager keys one tunnel policy of `sabre run` from another
// process, through the daemon's messaging socket (-msgsock) and the
// reference's 8-octet messaging protocol alone (package
// ipsec/messaging/wire), as a key manager written in any language would.
// The e2e tests build and run it, one per side of a tunnel.
//
// It registers (APP_REGISTER), finds its policy by name (GET_POLICIES) and
// waits for events. The two sides' key managers agree SAs over TCP
// between their outer addresses, a toy exchange with no security of its
// own (the keys come from a secret both were given):
//
//	initiator, on ACQUIRE           responder
//	GET_SPI -> i
//	"INIT i"               ---->    GET_SPI -> r
//	                                ADD_SA inbound only (r)
//	                       <----    "RESP r"
//	ADD_SA (in i, out r)
//	"DONE"                 ---->    ADD_SA outbound only (i)
//
// so that no ESP packet is sent before its receiver has the inbound SA.
// The responder ignores its own ACQUIREs: its queued packets leave when
// its outbound SA is added. The initiator rekeys once, the same way, when
// its outbound SA reaches its soft lifetime (SA_EXPIRED); -soft-packets
// applies to the first pair only, so the rekeyed one does not expire. The ESP SA whose SPI is s has the AES-GCM-16
// key and salt HMAC-SHA256(secret, "sabre keymanager " || s)[:20].
//
// It prints one line per step on standard output, for the test to wait
// on: "registered ID", "policy ID", "event TYPE policy=ID" (SA events
// add "spi=0xSPI dir=DIR"), "added in=0xSPI out=0xSPI", "error ...". It exits when the
// daemon closes the socket.
package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/ipsec/messaging/wire"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// keyLen is AES-128-GCM's key and salt (RFC 4106 §8.1).
const keyLen = 20

var out struct {
	mu sync.Mutex
	w  *bufio.Writer
}

// say prints one line and flushes it.
func say(format string, args ...any) {
	out.mu.Lock()
	defer out.mu.Unlock()
	fmt.Fprintf(out.w, format+"\n", args...)
	out.w.Flush()
}

func main() {
	out.w = bufio.NewWriter(os.Stdout)
	msgsock := flag.String("msgsock", "", "the daemon's messaging socket")
	policyName := flag.String("policy", "", "name of the policy to key (ipsec policy -n)")
	local := flag.String("local", "", "this side's outer address")
	listen := flag.String("listen", "", "responder: TCP address to accept the initiator's exchange on")
	peer := flag.String("peer", "", "initiator: the responder's TCP address")
	secret := flag.String("secret", "", "the secret both sides derive the keys from")
	softPackets := flag.Uint64("soft-packets", 0, "soft lifetime of the SAs in packets (0: none)")
	flag.Parse()
	if err := run(*msgsock, *policyName, *local, *listen, *peer, *secret, *softPackets); err != nil {
		say("error %v", err)
		os.Exit(1)
	}
}

func run(msgsock, policyName, local, listen, peer, secret string, softPackets uint64) error {
	localAddr, err := netip.ParseAddr(local)
	if err != nil {
		return fmt.Errorf("-local %q: %v", local, err)
	}
	if (listen == "") == (peer == "") {
		return errors.New("give -listen (responder) or -peer (initiator)")
	}
	conn, err := net.Dial("unix", msgsock)
	if err != nil {
		return err
	}
	c := newClient(conn)
	reply, err := c.call(wire.AppRegisterRequest{Name: "keymanager"})
	if err != nil {
		return fmt.Errorf("APP_REGISTER: %w", err)
	}
	say("registered %d", reply.(wire.AppRegisterReply).ID)
	policy, err := c.findPolicy(policyName)
	if err != nil {
		return err
	}
	say("policy %d", policy)
	k := &keyer{c: c, policy: policy, local: localAddr, secret: []byte(secret), soft: sad.Lifetime{Packets: softPackets}}
	if listen != "" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return err
		}
		defer ln.Close()
		go k.respond(ln)
	}
	for ev := range c.events {
		if ev.Type == messaging.MsgSAExpired || ev.Type == messaging.MsgSADeleted {
			say("event %v policy=%d spi=%#x dir=%v", ev.Type, ev.PolicyID, ev.SPI, ev.Direction)
		} else {
			say("event %v policy=%d", ev.Type, ev.PolicyID)
		}
		if ev.PolicyID != policy || peer == "" {
			continue
		}
		switch {
		case ev.Type == messaging.MsgAcquire:
			if err := k.initiate(peer); err != nil {
				say("error initiating: %v", err)
				c.call(wire.AcquireFailRequest{PolicyID: policy})
			}
		case ev.Type == messaging.MsgSAExpired && ev.Direction == sad.Outbound && ev.SPI == k.out && !k.rekeyed:
			k.rekeyed = true
			if err := k.initiate(peer); err != nil {
				say("error rekeying: %v", err)
			}
		}
	}
	return c.err
}

// client is one connection to the messaging socket: calls wait for their
// reply, events arrive on a channel.
type client struct {
	conn    net.Conn
	mu      sync.Mutex // one call at a time
	seq     uint8
	replies chan *wire.Message
	events  chan messaging.Event
	err     error // why the connection ended, once events is closed
}

func newClient(conn net.Conn) *client {
	c := &client{conn: conn, replies: make(chan *wire.Message, 1), events: make(chan messaging.Event, 1024)}
	go c.read()
	return c
}

// read sorts the daemon's messages into replies and events.
func (c *client) read() {
	defer close(c.events)
	defer close(c.replies)
	r := bufio.NewReader(c.conn)
	for {
		m, err := wire.ReadMessage(r)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.err = err
			}
			return
		}
		if m.Reply {
			c.replies <- m
			continue
		}
		ev, err := wire.DecodeEvent(m)
		if err != nil {
			c.err = err
			return
		}
		c.events <- ev
	}
}

// call sends req and returns its reply's data, or its status as an error.
func (c *client) call(req wire.Request) (wire.Reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	b, err := wire.EncodeRequest(wire.PartyIKE, c.seq, req)
	if err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(b); err != nil {
		return nil, err
	}
	m, ok := <-c.replies
	if !ok {
		return nil, fmt.Errorf("%v: connection closed", req.MsgType())
	}
	if m.Seq != c.seq || m.Type != req.MsgType() {
		return nil, fmt.Errorf("%v: reply %v to sequence %d, want %d", req.MsgType(), m.Type, m.Seq, c.seq)
	}
	return wire.DecodeReply(m)
}

// findPolicy walks the SPD with GET_POLICIES for the policy named name.
func (c *client) findPolicy(name string) (uint32, error) {
	for after := uint32(0); ; {
		reply, err := c.call(wire.GetPoliciesRequest{After: after})
		if errors.Is(err, xe.PolicyNotFound) {
			return 0, fmt.Errorf("no policy named %q", name)
		}
		if err != nil {
			return 0, fmt.Errorf("GET_POLICIES: %w", err)
		}
		p := reply.(wire.PolicyReply).Policy
		if p.Name == name {
			return p.ID, nil
		}
		after = p.ID
	}
}

// keyer runs the exchange for one policy.
type keyer struct {
	c      *client
	policy uint32
	local  netip.Addr
	secret []byte
	soft   sad.Lifetime // of the first pair; later ones have none

	pairs   int    // SA pairs added
	out     uint32 // the initiator's current outbound SPI
	rekeyed bool
}

// key is the key and salt of the SA whose SPI is spi.
func (k *keyer) key(spi uint32) []byte {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte("sabre keymanager "))
	m.Write(binary.BigEndian.AppendUint32(nil, spi))
	return m.Sum(nil)[:keyLen]
}

func (k *keyer) getSPI() (uint32, error) {
	reply, err := k.c.call(wire.GetSPIRequest{PolicyID: k.policy, Protocol: sad.ESP, Dst: k.local})
	if err != nil {
		return 0, fmt.Errorf("GET_SPI: %w", err)
	}
	return reply.(wire.GetSPIReply).SPI, nil
}

// addSA adds the SAs with inbound SPI in and outbound SPI out: both, or
// only those of direction only.
func (k *keyer) addSA(in, out uint32, only sad.Direction) error {
	soft := k.soft
	if k.pairs > 0 {
		soft = sad.Lifetime{}
	}
	_, err := k.c.call(wire.AddSARequest{PolicyID: k.policy, SA: ipsec.ManualSA{
		Encr: suite.EncrAESGCM16, EncrKeyIn: k.key(in), EncrKeyOut: k.key(out),
		ESPSPIIn: in, ESPSPIOut: out, Local: k.local, Soft: soft, Only: only,
	}})
	if err != nil {
		return fmt.Errorf("ADD_SA: %w", err)
	}
	return nil
}

// initiate is the initiator's side of the exchange.
func (k *keyer) initiate(peer string) error {
	in, err := k.getSPI()
	if err != nil {
		return err
	}
	conn, err := net.Dial("tcp", peer)
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Fprintf(conn, "INIT %d\n", in)
	var out uint32
	if _, err := fmt.Fscanf(bufio.NewReader(conn), "RESP %d\n", &out); err != nil {
		return fmt.Errorf("responder's reply: %w", err)
	}
	if err := k.addSA(in, out, 0); err != nil {
		return err
	}
	k.pairs++
	k.out = out
	if _, err := fmt.Fprintf(conn, "DONE\n"); err != nil {
		return err
	}
	say("added in=%#x out=%#x", in, out)
	return nil
}

// respond answers the initiator's exchanges.
func (k *keyer) respond(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		if err := k.answer(conn); err != nil {
			say("error responding: %v", err)
		}
		conn.Close()
	}
}

func (k *keyer) answer(conn net.Conn) error {
	r := bufio.NewReader(conn)
	var out uint32
	if _, err := fmt.Fscanf(r, "INIT %d\n", &out); err != nil {
		return fmt.Errorf("initiator's request: %w", err)
	}
	in, err := k.getSPI()
	if err != nil {
		return err
	}
	if err := k.addSA(in, out, sad.Inbound); err != nil {
		return err
	}
	fmt.Fprintf(conn, "RESP %d\n", in)
	var done string
	if _, err := fmt.Fscanln(r, &done); err != nil || done != "DONE" {
		return fmt.Errorf("initiator's DONE: %q %v", done, err)
	}
	if err := k.addSA(in, out, sad.Outbound); err != nil {
		return err
	}
	k.pairs++
	say("added in=%#x out=%#x", in, out)
	return nil
}
