// Package ike is Sabre's IKEv2 key manager (RFC 7296): the configuration of
// remote peers, the IKE SA manager, the exchanges as tasks, and the glue
// that negotiates Child SAs for the policies the data plane ACQUIREs.
package ike

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/suite"
)

// AuthMethod is how a peer authenticates (`ike remote -m`).
type AuthMethod uint8

const (
	// AuthPSK is a pre-shared key (RFC 7296 §2.15).
	AuthPSK AuthMethod = iota + 1
	// AuthRSASig is an RSA signature with certificates; not in this build.
	AuthRSASig
)

func (m AuthMethod) String() string {
	switch m {
	case AuthPSK:
		return "PresharedKey"
	case AuthRSASig:
		return "RSASIG"
	}
	return fmt.Sprintf("AuthMethod(%d)", uint8(m))
}

// PRFID and GroupID are the transform IDs of package message (RFC 7296
// §3.3.2); the names operators use for them are here. Groups the reference
// names that ikecrypto refuses or lacks (MODP 768, 6144, 8192) parse so
// that reference configurations load, and are left out of proposals.
type (
	PRFID   = message.PRFID
	GroupID = message.GroupID
)

// Operator names of PRFs and groups: the reference's (HMAC-SHA-2-256,
// MODP2048) and strongSwan's (prfsha256, ecp256, x25519), compared without
// case, '-' and '_'.
var (
	prfNames = map[string]PRFID{
		"hmacmd5": message.PRFHMACMD5, "md5": message.PRFHMACMD5, "prfmd5": message.PRFHMACMD5,
		"hmacsha1": message.PRFHMACSHA1, "sha1": message.PRFHMACSHA1, "sha": message.PRFHMACSHA1, "prfsha1": message.PRFHMACSHA1,
		"hmacsha2256": message.PRFHMACSHA2256, "hmacsha256": message.PRFHMACSHA2256, "sha256": message.PRFHMACSHA2256, "prfsha256": message.PRFHMACSHA2256,
		"hmacsha2384": message.PRFHMACSHA2384, "hmacsha384": message.PRFHMACSHA2384, "sha384": message.PRFHMACSHA2384, "prfsha384": message.PRFHMACSHA2384,
		"hmacsha2512": message.PRFHMACSHA2512, "hmacsha512": message.PRFHMACSHA2512, "sha512": message.PRFHMACSHA2512, "prfsha512": message.PRFHMACSHA2512,
		"aesxcbc": message.PRFAES128XCBC, "aes128xcbc": message.PRFAES128XCBC, "prfaesxcbc": message.PRFAES128XCBC,
		"aescmac": message.PRFAES128CMAC, "aes128cmac": message.PRFAES128CMAC, "prfaescmac": message.PRFAES128CMAC,
	}
	groupNames = map[string]GroupID{
		"modp768": message.MODP768, "modp1024": message.MODP1024, "modp1536": message.MODP1536,
		"modp2048": message.MODP2048, "modp3072": message.MODP3072, "modp4096": message.MODP4096,
		"modp6144": message.MODP6144, "modp8192": message.MODP8192,
		"ecp256": message.ECP256, "ecp384": message.ECP384, "ecp521": message.ECP521,
		"curve25519": message.Curve25519, "x25519": message.Curve25519,
	}
)

// PRFByName returns the PRF an operator names.
func PRFByName(name string) (PRFID, error) {
	if id, ok := prfNames[suite.NormalizeName(name)]; ok {
		return id, nil
	}
	return 0, fmt.Errorf("unknown PRF %q", name)
}

// GroupByName returns the key exchange group an operator names.
func GroupByName(name string) (GroupID, error) {
	if id, ok := groupNames[suite.NormalizeName(name)]; ok {
		return id, nil
	}
	return 0, fmt.Errorf("unknown DH group %q", name)
}

// IntegName is the reference's name of an integrity algorithm
// (HMAC-SHA-2-256), as `ike remote -a` takes it.
func IntegName(id suite.IntegID) string { return suite.IntegName(id) }

// PRFName is the reference's name of a PRF (HMAC-SHA-2-256), the inverse of
// PRFByName.
func PRFName(id PRFID) string {
	switch id {
	case message.PRFHMACMD5:
		return "HMAC-MD5"
	case message.PRFHMACSHA1:
		return "HMAC-SHA-1"
	case message.PRFHMACSHA2256:
		return "HMAC-SHA-2-256"
	case message.PRFHMACSHA2384:
		return "HMAC-SHA-2-384"
	case message.PRFHMACSHA2512:
		return "HMAC-SHA-2-512"
	case message.PRFAES128XCBC:
		return "AES-XCBC"
	case message.PRFAES128CMAC:
		return "AES-CMAC"
	}
	return fmt.Sprintf("PRF%d", id)
}

// GroupName is the name of a key exchange group (MODP2048, ECP256,
// CURVE25519), the inverse of GroupByName.
func GroupName(id GroupID) string {
	for n, g := range groupNames {
		if g == id && (strings.HasPrefix(n, "modp") || strings.HasPrefix(n, "ecp") || n == "curve25519") {
			return strings.ToUpper(n)
		}
	}
	return fmt.Sprintf("GROUP%d", id)
}

// IDType is an IKEv2 Identification payload type (RFC 7296 §3.5).
type IDType uint8

// Identification types.
const (
	IDIPv4Addr   IDType = 1
	IDFQDN       IDType = 2
	IDRFC822Addr IDType = 3
	IDIPv6Addr   IDType = 5
	IDDERASN1DN  IDType = 9
	IDKeyID      IDType = 11
)

// Identity is an IKE identity such as "ipv4:10.0.0.77" or "fqdn:vpn.example".
type Identity struct {
	Type IDType
	Data []byte
}

// ParseIdentity parses the reference's `-f`/`-g` syntax: ipv4:ADDR,
// ipv6:ADDR, fqdn:NAME, email:ADDR (or rfc822:ADDR), keyid:HEX or
// keyid:TEXT.
func ParseIdentity(s string) (Identity, error) {
	kind, val, ok := strings.Cut(s, ":")
	if !ok || val == "" {
		return Identity{}, fmt.Errorf("identity %q: want TYPE:VALUE (ipv4:, ipv6:, fqdn:, email:, keyid:)", s)
	}
	switch strings.ToLower(kind) {
	case "ipv4", "ipv6":
		a, err := netip.ParseAddr(val)
		if err != nil {
			return Identity{}, fmt.Errorf("identity %q: %v", s, err)
		}
		if a.Is4() != (strings.ToLower(kind) == "ipv4") {
			return Identity{}, fmt.Errorf("identity %q: address family does not match %s", s, kind)
		}
		if a.Is4() {
			return Identity{Type: IDIPv4Addr, Data: a.AsSlice()}, nil
		}
		return Identity{Type: IDIPv6Addr, Data: a.AsSlice()}, nil
	case "fqdn":
		return Identity{Type: IDFQDN, Data: []byte(val)}, nil
	case "email", "rfc822", "user":
		return Identity{Type: IDRFC822Addr, Data: []byte(val)}, nil
	case "keyid":
		if b, err := parseHex(val); err == nil {
			return Identity{Type: IDKeyID, Data: b}, nil
		}
		return Identity{Type: IDKeyID, Data: []byte(val)}, nil
	}
	return Identity{}, fmt.Errorf("identity %q: unknown type %q (ipv4, ipv6, fqdn, email, keyid)", s, kind)
}

func (id Identity) String() string {
	switch id.Type {
	case IDIPv4Addr, IDIPv6Addr:
		a, _ := netip.AddrFromSlice(id.Data)
		if id.Type == IDIPv4Addr {
			return "ipv4:" + a.String()
		}
		return "ipv6:" + a.String()
	case IDFQDN:
		return "fqdn:" + string(id.Data)
	case IDRFC822Addr:
		return "email:" + string(id.Data)
	case IDKeyID:
		return fmt.Sprintf("keyid:%x", id.Data)
	}
	return fmt.Sprintf("id%d:%x", id.Type, id.Data)
}

// Equal reports whether two identities are the same.
func (id Identity) Equal(o Identity) bool {
	return id.Type == o.Type && string(id.Data) == string(o.Data)
}

func parseHex(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.ReplaceAll(s, ":", ""), "0x")
	if len(s) == 0 || len(s)%2 != 0 {
		return nil, fmt.Errorf("odd hex")
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		b[i] = byte(v)
	}
	return b, nil
}

// EncrAlg is an encryption transform with its key length in bits (0 for
// fixed-length ciphers).
type EncrAlg struct {
	ID      suite.EncrID
	KeyBits int
}

// String returns the operator's name, which EncrByName reads back.
func (e EncrAlg) String() string { return suite.EncrName(e.ID, e.KeyBits) }

// Remote is one `ike remote` entry: how to reach and authenticate a peer,
// and the algorithms of the IKE SA with it, in order of preference.
type Remote struct {
	Name     string
	Version  int             // -z: 2 (IKEv1 is not in this build)
	Initiate bool            // -w
	Accept   bool            // -u
	Encr     []EncrAlg       // -e
	Integ    []suite.IntegID // -a (empty for AEAD-only proposals)
	PRF      []PRFID         // -p
	Groups   []GroupID       // -d
	Method   AuthMethod      // -m
	PSKFile  string          // -h
	psk      *pskKey
	RemoteID Identity   // -f: expected from the peer
	LocalID  Identity   // -g: sent to the peer
	Address  netip.Addr // -r
	Port     uint16     // IKE port of the peer (500 unless given as -r ADDR:PORT)
	// Retransmit is the first retransmission interval (-i); later ones
	// double (RFC 7296 §2.1).
	Retransmit time.Duration
	Lifetime   time.Duration // -l: IKE SA lifetime

	// The doubling of Retransmit stops at RetransmitLimit (-I), and after
	// RetransmitTries retransmissions (-t) and one more interval the
	// request has failed. Zero values mean the defaults.
	RetransmitTries int
	RetransmitLimit time.Duration
	// ForceEncap (-U) UDP-encapsulates ESP with this peer even where no
	// NAT is, as strongSwan's encap = yes: our NAT detection is faked.
	ForceEncap bool

	// Liveness (dpd.go): DPDDelay is how long an IKE SA hears nothing
	// before it checks the peer (-D; 0: LivenessInterval, DPDOff: never),
	// DPDTimeout how long that check may go unanswered (-T; 0: the
	// retransmission schedule), DPDAction what follows a dead peer (-A).
	// StartAction (-S) is what the remote's policies do at load.
	DPDDelay    time.Duration
	DPDOff      bool
	DPDTimeout  time.Duration
	DPDAction   DPDAction
	StartAction StartAction
}

// Defaults of `ike remote`.
const (
	DefaultRetransmit  = 500 * time.Millisecond
	DefaultIKELifetime = 4 * time.Hour
)

// Default retransmissions: after DefaultRetransmit a request is sent again
// 10 times, waiting 1, 2, 4, 8, 16 and then 32 s, and it fails 191.5 s
// after it was first sent: longer than strongSwan's default (5
// retransmissions, 4 s timeout, base 1.8: 165 s), with the first ones
// sooner.
const (
	DefaultRetransmitTries = 10
	DefaultRetransmitLimit = 32 * time.Second
)

// Bounds of the retransmission options: -t at most MaxRetransmitTries,
// -i and -I at most MaxRetransmitOption.
const (
	MaxRetransmitTries  = 100
	MaxRetransmitOption = time.Hour
)

// retransmitSchedule returns r's retransmission settings, defaults filled
// in.
func (r *Remote) retransmitSchedule() (first time.Duration, tries int, limit time.Duration) {
	first, tries, limit = r.Retransmit, r.RetransmitTries, r.RetransmitLimit
	if first <= 0 {
		first = DefaultRetransmit
	}
	if tries <= 0 {
		tries = DefaultRetransmitTries
	}
	if limit <= 0 {
		limit = DefaultRetransmitLimit
	}
	return first, tries, max(limit, first)
}

// RetransmitInterval is how long r waits after the n-th send of a request
// (n from 1): the first interval doubled n-1 times, at most the limit.
func (r *Remote) RetransmitInterval(n int) time.Duration {
	first, _, limit := r.retransmitSchedule()
	d := first
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// GiveUpAfter is how long after its first send a request to r that gets no
// answer fails: the intervals after the first send and each retransmission.
func (r *Remote) GiveUpAfter() time.Duration {
	_, tries, _ := r.retransmitSchedule()
	var total time.Duration
	for n := 1; n <= tries+1; n++ {
		total += r.RetransmitInterval(n)
	}
	return total
}

// pskKey is a pre-shared key, shared by the copies of one Remote. It is
// zeroed when its remote is deleted or replaced and when the daemon
// closes; the lock keeps an IKE SA that authenticates at that moment from
// reading a half-zeroed key.
type pskKey struct {
	mu sync.RWMutex
	b  []byte
}

// withPSK returns f applied to r's pre-shared key (nil when none is
// loaded, zeros once it is wiped), holding the key against zeroing.
func (r *Remote) withPSK(f func(k []byte) []byte) []byte {
	if r.psk == nil {
		return f(nil)
	}
	r.psk.mu.RLock()
	defer r.psk.mu.RUnlock()
	return f(r.psk.b)
}

// ZeroPSK wipes the pre-shared key r holds (in every copy of r).
func (r *Remote) ZeroPSK() {
	if r.psk == nil {
		return
	}
	r.psk.mu.Lock()
	clear(r.psk.b)
	r.psk.mu.Unlock()
}

// SamePSK reports in constant time whether r and o hold the same key.
func (r *Remote) SamePSK(o *Remote) bool {
	if r.psk == nil || o.psk == nil {
		return r.psk == nil && o.psk == nil
	}
	if r.psk == o.psk {
		return true
	}
	var same bool
	r.withPSK(func(a []byte) []byte {
		o.withPSK(func(b []byte) []byte { same = subtle.ConstantTimeCompare(a, b) == 1; return nil })
		return nil
	})
	return same
}

// maxPSKFile bounds the PSK file: a key is a few dozen bytes.
const maxPSKFile = 4096

// LoadPSK reads the pre-shared key of r from its file, which must be a
// regular file owned by this process's user and readable by its owner
// only: a key others can read is not secret. The checks are made on the
// opened descriptor (fstat), so the file checked is the file read. The key
// lives in a buffer r owns, never in a string; trailing newlines are not
// part of it, and a key written 0x<hex> is decoded. A key loaded before is
// zeroed.
func (r *Remote) LoadPSK() error {
	if r.Method != AuthPSK {
		return nil
	}
	if r.PSKFile == "" {
		return fmt.Errorf("remote %q: PresharedKey needs -h <file>", r.Name)
	}
	f, err := os.OpenFile(r.PSKFile, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("remote %q: PSK file: %v", r.Name, err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("remote %q: PSK file %s: %v", r.Name, r.PSKFile, err)
	}
	mode := os.FileMode(st.Mode & 0o777)
	switch {
	case st.Mode&syscall.S_IFMT != syscall.S_IFREG:
		return fmt.Errorf("remote %q: PSK file %s is not a regular file", r.Name, r.PSKFile)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("remote %q: PSK file %s is owned by uid %d, not by this process's user (uid %d)", r.Name, r.PSKFile, st.Uid, os.Geteuid())
	case mode&0o077 != 0:
		return fmt.Errorf("remote %q: PSK file %s has mode %v; it must be readable by its owner only (chmod 600)", r.Name, r.PSKFile, mode)
	case st.Size > maxPSKFile:
		return fmt.Errorf("remote %q: PSK file %s has %d bytes; a key file has at most %d", r.Name, r.PSKFile, st.Size, maxPSKFile)
	}
	buf := make([]byte, maxPSKFile+1)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
	case err != nil:
		return fmt.Errorf("remote %q: PSK file %s: %v", r.Name, r.PSKFile, err)
	default:
		return fmt.Errorf("remote %q: PSK file %s grew past %d bytes while read", r.Name, r.PSKFile, maxPSKFile)
	}
	k := bytes.TrimRight(buf[:n], "\r\n")
	if len(k) == 0 {
		return fmt.Errorf("remote %q: PSK file %s is empty", r.Name, r.PSKFile)
	}
	key, ok := decodeHexKey(k)
	if !ok {
		key = bytes.Clone(k)
	}
	r.ZeroPSK()
	r.psk = &pskKey{b: key}
	return nil
}

// decodeHexKey decodes a key written 0x<hex digits> (colons allowed
// between bytes) without making a string of it.
func decodeHexKey(k []byte) ([]byte, bool) {
	h, ok := bytes.CutPrefix(k, []byte("0x"))
	if !ok {
		return nil, false
	}
	digits := make([]byte, 0, len(h))
	defer clear(digits[:cap(digits)])
	for _, c := range h {
		if c != ':' {
			digits = append(digits, c)
		}
	}
	if len(digits) == 0 || len(digits)%2 != 0 {
		return nil, false
	}
	out := make([]byte, len(digits)/2)
	for i := range out {
		hi, ok1 := hexNibble(digits[2*i])
		lo, ok2 := hexNibble(digits[2*i+1])
		if !ok1 || !ok2 {
			clear(out)
			return nil, false
		}
		out[i] = hi<<4 | lo
	}
	return out, true
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
