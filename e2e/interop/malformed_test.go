package interop

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/cli"
	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/ike/message"
)

// TestMalformedAnsweredAsStrongSwan (issue 9, item 7) sends the same
// crafted IKE_SA_INIT requests over UDP to a `sabre run` daemon and to
// charon, and compares the answers: which error notification (with its
// data), in which exchange, with which flags, message ID, SPIi and
// version. strongSwan may put a responder SPI of its own where Sabre sends
// zero (RFC 7296 §2.6 allows either); that is logged, not compared.
func TestMalformedAnsweredAsStrongSwan(t *testing.T) {
	needStrongSwan(t)
	c := ikeCases[2] // CURVE25519: any 32 octets make a KE payload
	left, right := pair(t)
	psk := newPSK()
	startSabre(t, left, right, sabreRemote(c, left, right, right.outer, writePSK(t, left, psk), false))
	r := startCharon(t, right, defaultCharon)
	r.load(t, conn(c, right, left, psk))

	rem, err := cli.ParseRemote(strings.Fields("-n x -u " + c.sabreIKE + " -m PSK -h " + os.DevNull))
	if err != nil {
		t.Fatal(err)
	}
	offer := &message.SA{Proposals: ike.IKEProposals(&rem)}
	ke := &message.KE{Group: message.GroupID(31), Data: make([]byte, 32)}
	rand.Read(ke.Data)
	build := func(spii uint64, ps ...message.Payload) []byte {
		b, err := (&message.Message{Header: message.Header{SPIi: spii, Exchange: message.IKESAInit, Flags: message.FlagInitiator}, Payloads: ps}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// shortNonce replaces the 16-octet nonce at the end of b by n octets.
	shortNonce := func(b []byte, n int) []byte {
		b = append(b[:len(b)-16], bytes.Repeat([]byte{1}, n)...)
		binary.BigEndian.PutUint16(b[len(b)-n-2:], uint16(4+n))
		binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
		return b
	}
	nonce := &message.Nonce{Data: bytes.Repeat([]byte{1}, 16)}
	critical := &message.Unknown{Type: 200, Critical: true, Data: []byte{1, 2, 3}}
	for i, tc := range []struct {
		name string
		req  func(spii uint64) []byte
		want message.NotifyType
	}{
		{"unknown critical payload", func(spii uint64) []byte { return build(spii, offer, ke, critical, nonce) }, message.UnsupportedCriticalPayload},
		{"no KE", func(spii uint64) []byte { return build(spii, offer, nonce) }, message.InvalidSyntax},
		{"nonce of 15 octets", func(spii uint64) []byte { return shortNonce(build(spii, offer, ke, nonce), 15) }, message.InvalidSyntax},
		{"nonce of 257 octets", func(spii uint64) []byte { return shortNonce(build(spii, offer, ke, nonce), 257) }, message.InvalidSyntax},
		{"major version 3", func(spii uint64) []byte {
			b := build(spii, offer, ke, nonce)
			b[17] = 0x30
			return b
		}, message.InvalidMajorVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spii := uint64(0x5ab3e000) + uint64(i)
			req := tc.req(spii)
			sabre := exchangeRaw(t, right, req, left.outer)
			swan := exchangeRaw(t, left, req, right.outer)
			for who, b := range map[string][]byte{"Sabre": sabre, "strongSwan": swan} {
				h, err := message.ParseHeader(b)
				if err != nil {
					t.Fatalf("%s: %v", who, err)
				}
				m, err := message.Parse(b)
				if err != nil {
					t.Fatalf("%s answered %x: %v", who, b, err)
				}
				n, ok := message.FindNotify(m.Payloads, tc.want)
				if !ok || len(m.Payloads) != 1 {
					t.Fatalf("%s answered %v, want N(%v) alone", who, m, tc.want)
				}
				if h.SPIi != spii || h.Exchange != message.IKESAInit || h.Flags != message.FlagResponse || h.MessageID != 0 || h.Version != message.Version {
					t.Errorf("%s answered with header %+v", who, *h)
				}
				if tc.want == message.UnsupportedCriticalPayload && !bytes.Equal(n.Data, []byte{200}) {
					t.Errorf("%s: UNSUPPORTED_CRITICAL_PAYLOAD data %x, want c8", who, n.Data)
				}
				t.Logf("%s: %v", who, m)
			}
		})
	}
}

// exchangeRaw sends req from h's namespace (port 5000) to IKE port 500 at
// to and returns the one datagram that comes back.
func exchangeRaw(t *testing.T, h *host, req []byte, to interface{ String() string }) []byte {
	t.Helper()
	var resp []byte
	err := h.ns.Do(func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(h.outer.String()), Port: 5000})
		if err != nil {
			return err
		}
		defer c.Close()
		dst := &net.UDPAddr{IP: net.ParseIP(to.String()), Port: 500}
		if _, err := c.WriteToUDP(req, dst); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2048)
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return err
		}
		if !from.IP.Equal(dst.IP) || from.Port != 500 {
			return errors.New("answer from " + from.String())
		}
		resp = buf[:n]
		return nil
	})
	if err != nil {
		t.Fatalf("%s to %v: %v", h.role, to, err)
	}
	return resp
}
