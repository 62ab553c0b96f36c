package ike

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	ikecrypto "github.com/sabre-ipsec/sabre/ike/crypto"
	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/ipsec"
)

// State is an IKE SA's state. The transitions are in one place, (*SA).set.
type State uint8

const (
	// StateInitSent: the initiator sent IKE_SA_INIT.
	StateInitSent State = iota + 1
	// StateInitDone: the responder answered IKE_SA_INIT and waits for
	// IKE_AUTH.
	StateInitDone
	// StateAuthSent: the initiator sent IKE_AUTH.
	StateAuthSent
	// StateEstablished: authenticated; exchanges carry Child SAs and
	// informational messages.
	StateEstablished
	// StateDeleting: a Delete for the IKE SA is outstanding.
	StateDeleting
	// StateDead: removed from the manager.
	StateDead
)

func (s State) String() string {
	switch s {
	case StateInitSent:
		return "INIT_SENT"
	case StateInitDone:
		return "INIT_DONE"
	case StateAuthSent:
		return "AUTH_SENT"
	case StateEstablished:
		return "ESTABLISHED"
	case StateDeleting:
		return "DELETING"
	case StateDead:
		return "DEAD"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// validTransitions lists the states each state may move to.
var validTransitions = map[State][]State{
	StateInitSent:    {StateInitSent, StateAuthSent, StateDead},
	StateInitDone:    {StateEstablished, StateDeleting, StateDead},
	StateAuthSent:    {StateEstablished, StateDeleting, StateDead},
	StateEstablished: {StateDeleting, StateDead},
	StateDeleting:    {StateDead},
}

// child is a Child SA pair negotiated on an IKE SA.
type child struct {
	policyID uint32
	proto    message.ProtocolID
	inSPI    uint32 // ours, the peer sends with it
	outSPI   uint32 // the peer's
	tunnel   bool
	algs     Transforms
	created  time.Time
	rekeyed  bool // we are rekeying it, or the peer did: a replacement exists or is coming
	// weInitiated: this host sent the request of the exchange that
	// created the Child SA, which decides the key order (RFC 7296 §2.17).
	weInitiated bool
	// Rekeying without loss (RFC 7296 §2.8). pendingOut is the outbound
	// SA of a Child SA the peer rekeyed, held back until the peer deletes
	// the old one (successor links the old one to it). A retiring Child SA
	// is no longer sent on (its outbound SA is demoted); its SAs stay until
	// the Delete exchange for it completes and a grace for packets on the
	// way passes.
	pendingOut *ipsec.ManualSA
	successor  *child
	retiring   bool
}

// SA is one IKE SA.
type SA struct {
	d         *Daemon
	key       SAKey
	initiator bool // the original initiator
	remote    *Remote
	local     netip.AddrPort
	peer      netip.AddrPort
	state     State
	created   time.Time
	// NAT traversal (RFC 7296 §2.23).
	natLocal, natPeer bool // this host / the peer is behind a NAT
	floated           bool // messages use the NAT-T port

	// IKE_SA_INIT.
	algs           Transforms
	prf            *ikecrypto.PRF
	dh             *ikecrypto.PrivateKey
	group          GroupID
	ni, nr         []byte
	initRequest    []byte // the raw messages AUTH signs
	initResponse   []byte
	cookie         []byte
	keys           *ikecrypto.IKESAKeys
	skOut, skIn    ikecrypto.SKCipher
	peerID         Identity
	initialContact bool
	// rekeyed: a new IKE SA replaces this one (RFC 7296 §2.18); rekeyAt
	// is when this one is rekeyed (its soft lifetime).
	rekeyed bool
	rekeyAt time.Time
	// authAt is when IKE_AUTH completed (unique.go); fromRekey: made by
	// rekeying another IKE SA.
	authAt    time.Time
	fromRekey bool
	indexed   bool // in the identity index (identity.go)

	// initRetries counts restarts of IKE_SA_INIT after COOKIE and
	// INVALID_KE_PAYLOAD replies; refusedGroups are the groups the peer
	// refused with INVALID_KE_PAYLOAD; initIgnored is why the last
	// IKE_SA_INIT response was ignored.
	initRetries   int
	refusedGroups []GroupID
	initIgnored   error

	// Message IDs (RFC 7296 §2.2).
	nextRequest  uint32 // ID of our next request
	nextExpected uint32 // ID of the peer's next request
	lastResponse []byte // our response to the peer's request nextExpected-1
	tasks        taskManager
	lastRecv     time.Time
	// lastRequestHash is the hash of the request lastResponse answers:
	// only a bitwise copy of it is a retransmission (RFC 7296 §2.1).
	lastRequestHash InitHash
	// timer is the SA's one timer: the half-open timeout, then the
	// liveness/keepalive/lifetime tick.
	timer stopper

	children []*child

	stats struct {
		sent, received, retransmits uint64
	}
}

func (sa *SA) set(s State) error {
	if s == sa.state {
		return nil
	}
	for _, ok := range validTransitions[sa.state] {
		if ok == s {
			sa.d.debugf(sa, "state %v -> %v", sa.state, s)
			sa.state = s
			return nil
		}
	}
	return &StateError{SA: sa.String(), From: sa.state, To: s}
}

// String identifies the IKE SA in logs: its remote's name, its SPIs and
// the peer.
func (sa *SA) String() string {
	if sa.remote != nil && sa.remote.Name != "" {
		// The remote's name first, so that one tunnel's lines are found by it.
		return fmt.Sprintf("%s %016x_i %016x_r %v", sa.remote.Name, sa.key.SPIi, sa.key.SPIr, sa.peer)
	}
	return fmt.Sprintf("%016x_i %016x_r %v", sa.key.SPIi, sa.key.SPIr, sa.peer)
}

// established reports whether the SA may carry CREATE_CHILD_SA and
// INFORMATIONAL exchanges.
func (sa *SA) established() bool { return sa.state == StateEstablished }

// spiBytes returns the IKE SPIs as they go into key derivation and NAT-D.
func (sa *SA) spiBytes() (i, r []byte) {
	i, r = make([]byte, 8), make([]byte, 8)
	for k := 0; k < 8; k++ {
		i[k] = byte(sa.key.SPIi >> (56 - 8*k))
		r[k] = byte(sa.key.SPIr >> (56 - 8*k))
	}
	return i, r
}

// compact drops what only IKE_SA_INIT and IKE_AUTH needed once the SA is
// established: the raw IKE_SA_INIT messages and nonces that AUTH signs,
// SK_pi/SK_pr, the spent DH key. Child SAs need only SK_d; new Child SAs
// bring their own nonces. This halves what an idle IKE SA holds.
func (sa *SA) compact() {
	sa.initRequest, sa.initResponse = nil, nil
	sa.ni, sa.nr, sa.cookie = nil, nil, nil
	if sa.dh != nil {
		sa.dh.Zero()
		sa.dh = nil
	}
	if sa.keys != nil {
		// The SK_* slices share prf+'s one output buffer: keep a copy of
		// SK_d alone so that the rest of it can be collected.
		skd := slices.Clone(sa.keys.SKd)
		clear(sa.keys.SKd)
		sa.keys.SKd = skd
		clear(sa.keys.SKpi)
		clear(sa.keys.SKpr)
		clear(sa.keys.SKai)
		clear(sa.keys.SKar)
		clear(sa.keys.SKei)
		clear(sa.keys.SKer)
		sa.keys.SKpi, sa.keys.SKpr, sa.keys.SKai, sa.keys.SKar, sa.keys.SKei, sa.keys.SKer = nil, nil, nil, nil, nil, nil
	}
}

// close zeroes the SA's keys.
func (sa *SA) close() {
	if r := sa.tasks.active; r != nil && r.timer != nil {
		r.timer.Stop()
	}
	if sa.timer != nil {
		sa.timer.Stop()
	}
	if sa.keys != nil {
		sa.keys.Zero()
	}
	if sa.skOut != nil {
		sa.skOut.Close()
	}
	if sa.skIn != nil {
		sa.skIn.Close()
	}
	if sa.dh != nil {
		sa.dh.Zero()
	}
}
