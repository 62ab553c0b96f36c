// Package wire is the reference's 8-octet messaging protocol (§3.14): how
// the requests, replies and events of package messaging travel over a
// socket, and Serve, which answers them on one connection.
//
// # Header
//
// Every message starts with the reference's eight-octet header, one octet
// per field. The reference names the fields; their sizes are Sabre's.
//
//	off  field     meaning
//	0    type      messaging.MsgType
//	1    src       originator: 1 = IPsec, 2 = IKE, 3 = ADMIN, or an
//	               application ID assigned by APP_REGISTER
//	2    dst       target, numbered as src
//	3    reserved  0; a receiver rejects non-zero
//	4    sequence  set by the originator, copied into the reply
//	5    length    length of the data in 4-octet words; the data is
//	               zero-padded to a multiple of 4, so it is at most 1020
//	               octets (the reference: "usually less than 1024 bytes")
//	6    status    0 in requests and events; the XE_* code in replies
//	7    flags     bit 0 = reply; the other bits are 0
//
// A body that does not fit in 1020 octets is refused with
// XE_DST_OUT_OF_SPACE, as is a field too long for its length prefix.
//
// # Elements of the bodies
//
// Integers are big-endian: u8, u16, u32 and u64 are 1, 2, 4 and 8 octets.
//
//	str     u8 length, then the octets (names, algorithm names, reasons)
//	key     u8 length, then the key octets
//	addr    u8 family (0: none, 4: IPv4, 6: IPv6), then 0, 4 or 16 octets;
//	        an IPv4-mapped IPv6 address stays family 6; zones are refused
//	sel     str: the selector's canonical form (classify.Selector.String,
//	        read back with classify.ParseSelector); "" for none
//	list    u8 count, then that many str
//	life    u64 bytes, u64 packets, u64 time in nanoseconds (sad.Lifetime)
//	packet  addr src, addr dst, u8 proto, u16 src port, u16 dst port
//	        (classify.Packet)
//	policy  u32 id, str name, u8 action, u8 mode, u8 priority, u8 proto,
//	        sel src, sel dst, u32 flags, addr tunnel local, addr tunnel
//	        remote, str remote name, list ESP algorithms, list AH
//	        algorithms, u64 lifetime (ns), u64 rekey time (ns; `ipsec
//	        policy -K`, 0 for none), u32 replay window (spd.Policy)
//	sa      u32 SPI, u8 protocol, u8 direction, u8 mode, u8 state,
//	        u8 flags (1: ESN, 2: UDP encapsulation), addr local, addr
//	        remote, [u16 encap src port, u16 encap dst port when flag 2],
//	        str algorithm, u64 sequence, u64 packets, u64 bytes, u64 replay
//	        drops, u64 ICV failures (SAInfo; never keys)
//
// # Requests and their replies
//
//	type             request data                      reply data
//	APP_REGISTER     str application name              u8 application ID
//	CLONE_POLICY     u32 policy, sel src, sel dst      u32 new policy ID
//	INITIAL_CONTACT  addr remote                       u32 SAs deleted
//	DELETE_SPIs      addr dst, u8 protocol,            u32 SAs deleted
//	                 u8 count, count × u32 SPI
//	GET_SPI          u32 policy, u8 protocol, addr dst u32 SPI
//	ACQUIRE_FAIL     u32 policy                        none
//	ADD_SA           u32 policy, then ipsec.ManualSA:        none
//	                 u16 encr, key encr in, key encr out, u16 integ,
//	                 key integ in, key integ out, u32 ESP SPI in, u32 ESP
//	                 SPI out, u32 AH SPI in, u32 AH SPI out, u8 flags
//	                 (1: ESN, 2: UDP encapsulation), u32 replay window,
//	                 addr local, addr remote (none: the policy's; the
//	                 address a NAT presents), u8 only (0: both SAs,
//	                 1: only inbound, 2: only outbound), [u16 encap src
//	                 port, u16 encap dst port when flag 2], life soft,
//	                 life hard
//	GET_POLICY       u32 policy                        policy
//	GET_POLICIES     u32 after (0 for the first)       policy
//	LOOKUP_POLICY    u8 direction (1 out, 2 in), packet policy
//	SAFLUSH          none                              u32 SAs deleted
//	ADD_POLICY       policy                            u32 policy ID
//	DEL_POLICY       u32 policy                        none
//	GET_SA           u32 policy                        u8 count, count × sa
//	DEL_SA           u32 policy                        u32 SAs deleted
//	FLUSH_SPD        none                              u32 policies deleted
//
// A reply whose status is not 0 carries, instead, str: what was wrong.
//
// # Events
//
// Events go from IPsec (src 1) to a registered application (dst its ID),
// without the reply flag:
//
//	ACQUIRE          u32 policy, u8 has policy, [policy], packet
//	SA_EXPIRED       u32 policy, u32 SPI, u8 protocol, u8 direction,
//	SA_DELETED       addr dst, u8 hard (0 or 1), str reason
//	POLICY_ADDED     u32 policy, u8 has policy, [policy]
//	POLICY_DELETED   u32 policy, u8 has policy, [policy]
//
// An application may acknowledge an event with a reply of the same type and
// sequence and no data; IPsec ignores it.
package wire

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// Sizes of the wire encoding.
const (
	// HeaderLen is the length of the message header.
	HeaderLen = 8
	// MaxBodyLen is the most data a message carries: 255 four-octet
	// words.
	MaxBodyLen = 255 * 4
)

// flagReply is bit 0 of the header's flags octet.
const flagReply = 1

// Party is the originator or target of a message: IPsec, IKE, an
// administrator, or an application by the messaging.AppID APP_REGISTER gave it.
type Party uint8

// The fixed parties.
const (
	PartyIPsec Party = 1
	PartyIKE   Party = 2
	PartyAdmin Party = 3
)

// String returns "IPsec", "IKE", "ADMIN" or "app N".
func (p Party) String() string {
	switch p {
	case PartyIPsec:
		return "IPsec"
	case PartyIKE:
		return "IKE"
	case PartyAdmin:
		return "ADMIN"
	}
	return fmt.Sprintf("app %d", uint8(p))
}

// Message is one message of the messaging interface: the header's fields
// and the data that follows it.
type Message struct {
	Type   messaging.MsgType
	Src    Party
	Dst    Party
	Seq    uint8
	Status xe.Code // XE_OK in requests and events
	Reply  bool
	// Body is the data as on the wire. ParseMessage leaves it padded and
	// aliasing its input; Marshal pads it.
	Body []byte
}

// Marshal returns the message's header and its data zero-padded to a
// multiple of four octets.
func (m *Message) Marshal() ([]byte, error) {
	words := (len(m.Body) + 3) / 4
	switch {
	case len(m.Body) > MaxBodyLen:
		return nil, xe.Errorf(xe.DstOutOfSpace, "wire: %v message: length: %d octets of data, at most %d", m.Type, len(m.Body), MaxBodyLen)
	case m.Status >= xe.NumCodes:
		return nil, xe.Errorf(xe.BadParam, "wire: %v message: status: unknown code %d", m.Type, uint8(m.Status))
	case m.Status != xe.OK && !m.Reply:
		return nil, xe.Errorf(xe.BadParam, "wire: %v message: status: %v in a message that is not a reply", m.Type, m.Status.Name())
	}
	var flags uint8
	if m.Reply {
		flags |= flagReply
	}
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, HeaderLen+4*words))
	b.AddUint8(uint8(m.Type))
	b.AddUint8(uint8(m.Src))
	b.AddUint8(uint8(m.Dst))
	b.AddUint8(0)
	b.AddUint8(m.Seq)
	b.AddUint8(uint8(words))
	b.AddUint8(uint8(m.Status))
	b.AddUint8(flags)
	b.AddBytes(m.Body)
	b.AddBytes(make([]byte, 4*words-len(m.Body)))
	return b.Bytes()
}

// ParseMessage parses one whole message: the header, then exactly the
// data its length announces. The returned Body aliases b.
func ParseMessage(b []byte) (*Message, error) {
	s := cryptobyte.String(b)
	var typ, src, dst, reserved, seq, words, status, flags uint8
	if !s.ReadUint8(&typ) || !s.ReadUint8(&src) || !s.ReadUint8(&dst) || !s.ReadUint8(&reserved) ||
		!s.ReadUint8(&seq) || !s.ReadUint8(&words) || !s.ReadUint8(&status) || !s.ReadUint8(&flags) {
		return nil, xe.Errorf(xe.BadParam, "wire: header: %d octets, want %d", len(b), HeaderLen)
	}
	m := &Message{Type: messaging.MsgType(typ), Src: Party(src), Dst: Party(dst), Seq: seq, Status: xe.Code(status), Reply: flags&flagReply != 0}
	fail := func(field, format string, args ...any) (*Message, error) {
		return nil, xe.Errorf(xe.BadParam, "wire: %v message: %s: %s", m.Type, field, fmt.Sprintf(format, args...))
	}
	switch {
	case reserved != 0:
		return fail("reserved", "%#02x, must be 0", reserved)
	case flags&^flagReply != 0:
		return fail("flags", "%#02x: bits other than reply (0x01) set", flags)
	case m.Status >= xe.NumCodes:
		return fail("status", "unknown code %d", status)
	case m.Status != xe.OK && !m.Reply:
		return fail("status", "%v in a message that is not a reply", m.Status.Name())
	}
	if !s.ReadBytes(&m.Body, 4*int(words)) {
		return fail("length", "%d words announced, %d octets of data present", words, len(s))
	}
	if !s.Empty() {
		return fail("length", "%d words announced, %d octets of data present", words, len(b)-HeaderLen)
	}
	return m, nil
}

// ReadMessage reads one message from a stream: the header, then the data
// its length field announces. io.EOF means the stream ended between
// messages.
func ReadMessage(r io.Reader) (*Message, error) {
	frame, err := readFrame(r)
	if err != nil {
		return nil, err
	}
	return ParseMessage(frame)
}

// readFrame reads the octets of one message without checking them beyond
// the length field.
func readFrame(r io.Reader) ([]byte, error) {
	var h [HeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, HeaderLen+4*int(h[5]))
	copy(frame, h[:])
	if _, err := io.ReadFull(r, frame[HeaderLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return frame, nil
}

// A Request is the data of one of the sixteen requests, such as
// AddSARequest. Its type says which.
type Request interface {
	// messaging.MsgType returns the request's message type.
	MsgType() messaging.MsgType
	marshal(w *bodyWriter)
}

// AppRegisterRequest is APP_REGISTER (the name is Sabre's addition).
type AppRegisterRequest struct{ Name string }

// ClonePolicyRequest is CLONE_POLICY.
type ClonePolicyRequest struct {
	PolicyID uint32
	Src, Dst classify.Selector
}

// InitialContactRequest is INITIAL_CONTACT.
type InitialContactRequest struct{ Remote netip.Addr }

// DeleteSPIsRequest is DELETE_SPIs; Protocol may be sad.ProtocolAny.
type DeleteSPIsRequest struct {
	Dst      netip.Addr
	Protocol sad.Protocol
	SPIs     []uint32
}

// GetSPIRequest is GET_SPI; Dst may be left invalid for the policy's local
// tunnel endpoint.
type GetSPIRequest struct {
	PolicyID uint32
	Protocol sad.Protocol
	Dst      netip.Addr
}

// AcquireFailRequest is ACQUIRE_FAIL.
type AcquireFailRequest struct{ PolicyID uint32 }

// AddSARequest is ADD_SA.
type AddSARequest struct {
	PolicyID uint32
	SA       ipsec.ManualSA
}

// GetPolicyRequest is GET_POLICY.
type GetPolicyRequest struct{ PolicyID uint32 }

// GetPoliciesRequest is GET_POLICIES: the policy with the smallest ID above
// After.
type GetPoliciesRequest struct{ After uint32 }

// LookupPolicyRequest is LOOKUP_POLICY.
type LookupPolicyRequest struct {
	Direction spd.Direction
	Key       classify.Packet
}

// SAFlushRequest is SAFLUSH.
type SAFlushRequest struct{}

// AddPolicyRequest is ADD_POLICY.
type AddPolicyRequest struct{ Policy spd.Policy }

// DelPolicyRequest is DEL_POLICY.
type DelPolicyRequest struct{ PolicyID uint32 }

// GetSARequest is GET_SA.
type GetSARequest struct{ PolicyID uint32 }

// DelSARequest is DEL_SA.
type DelSARequest struct{ PolicyID uint32 }

// FlushSPDRequest is FLUSH_SPD.
type FlushSPDRequest struct{}

// messaging.MsgType returns messaging.MsgAppRegister.
func (AppRegisterRequest) MsgType() messaging.MsgType { return messaging.MsgAppRegister }

// messaging.MsgType returns messaging.MsgClonePolicy.
func (ClonePolicyRequest) MsgType() messaging.MsgType { return messaging.MsgClonePolicy }

// messaging.MsgType returns messaging.MsgInitialContact.
func (InitialContactRequest) MsgType() messaging.MsgType { return messaging.MsgInitialContact }

// messaging.MsgType returns messaging.MsgDeleteSPIs.
func (DeleteSPIsRequest) MsgType() messaging.MsgType { return messaging.MsgDeleteSPIs }

// messaging.MsgType returns messaging.MsgGetSPI.
func (GetSPIRequest) MsgType() messaging.MsgType { return messaging.MsgGetSPI }

// messaging.MsgType returns messaging.MsgAcquireFail.
func (AcquireFailRequest) MsgType() messaging.MsgType { return messaging.MsgAcquireFail }

// messaging.MsgType returns messaging.MsgAddSA.
func (AddSARequest) MsgType() messaging.MsgType { return messaging.MsgAddSA }

// messaging.MsgType returns messaging.MsgGetPolicy.
func (GetPolicyRequest) MsgType() messaging.MsgType { return messaging.MsgGetPolicy }

// messaging.MsgType returns messaging.MsgGetPolicies.
func (GetPoliciesRequest) MsgType() messaging.MsgType { return messaging.MsgGetPolicies }

// messaging.MsgType returns messaging.MsgLookupPolicy.
func (LookupPolicyRequest) MsgType() messaging.MsgType { return messaging.MsgLookupPolicy }

// messaging.MsgType returns messaging.MsgSAFlush.
func (SAFlushRequest) MsgType() messaging.MsgType { return messaging.MsgSAFlush }

// messaging.MsgType returns messaging.MsgAddPolicy.
func (AddPolicyRequest) MsgType() messaging.MsgType { return messaging.MsgAddPolicy }

// messaging.MsgType returns messaging.MsgDelPolicy.
func (DelPolicyRequest) MsgType() messaging.MsgType { return messaging.MsgDelPolicy }

// messaging.MsgType returns messaging.MsgGetSA.
func (GetSARequest) MsgType() messaging.MsgType { return messaging.MsgGetSA }

// messaging.MsgType returns messaging.MsgDelSA.
func (DelSARequest) MsgType() messaging.MsgType { return messaging.MsgDelSA }

// messaging.MsgType returns messaging.MsgFlushSPD.
func (FlushSPDRequest) MsgType() messaging.MsgType { return messaging.MsgFlushSPD }

func (r AppRegisterRequest) marshal(w *bodyWriter) { w.str("name", r.Name) }

func (r ClonePolicyRequest) marshal(w *bodyWriter) {
	w.u32(r.PolicyID)
	w.selector("src", r.Src)
	w.selector("dst", r.Dst)
}

func (r InitialContactRequest) marshal(w *bodyWriter) { w.addr("remote", r.Remote) }

func (r DeleteSPIsRequest) marshal(w *bodyWriter) {
	w.addr("dst", r.Dst)
	w.u8(uint8(r.Protocol))
	if !w.count("spis", len(r.SPIs)) {
		return
	}
	for _, spi := range r.SPIs {
		w.u32(spi)
	}
}

func (r GetSPIRequest) marshal(w *bodyWriter) {
	w.u32(r.PolicyID)
	w.u8(uint8(r.Protocol))
	w.addr("dst", r.Dst)
}

func (r AcquireFailRequest) marshal(w *bodyWriter) { w.u32(r.PolicyID) }

func (r AddSARequest) marshal(w *bodyWriter) {
	w.u32(r.PolicyID)
	w.manualSA(&r.SA)
}

func (r GetPolicyRequest) marshal(w *bodyWriter)   { w.u32(r.PolicyID) }
func (r GetPoliciesRequest) marshal(w *bodyWriter) { w.u32(r.After) }

func (r LookupPolicyRequest) marshal(w *bodyWriter) {
	w.u8(lookupDirection(r.Direction))
	w.packet("key", r.Key)
}

// lookupDirection is LOOKUP_POLICY's direction octet: 1 out, 2 in (an SA's
// direction octet is the other way round: 1 inbound, 2 outbound).
func lookupDirection(d spd.Direction) uint8 {
	switch d {
	case spd.Outbound:
		return 1
	case spd.Inbound:
		return 2
	}
	return uint8(d)
}

func (SAFlushRequest) marshal(*bodyWriter)       {}
func (r AddPolicyRequest) marshal(w *bodyWriter) { w.policy("policy", &r.Policy) }
func (r DelPolicyRequest) marshal(w *bodyWriter) { w.u32(r.PolicyID) }
func (r GetSARequest) marshal(w *bodyWriter)     { w.u32(r.PolicyID) }
func (r DelSARequest) marshal(w *bodyWriter)     { w.u32(r.PolicyID) }
func (FlushSPDRequest) marshal(*bodyWriter)      {}

// requestDecoders reads each request's data.
var requestDecoders = map[messaging.MsgType]func(r *bodyReader) Request{
	messaging.MsgAppRegister: func(r *bodyReader) Request { return AppRegisterRequest{Name: r.str("name")} },
	messaging.MsgClonePolicy: func(r *bodyReader) Request {
		return ClonePolicyRequest{PolicyID: r.u32("policy"), Src: r.selector("src"), Dst: r.selector("dst")}
	},
	messaging.MsgInitialContact: func(r *bodyReader) Request { return InitialContactRequest{Remote: r.addr("remote")} },
	messaging.MsgDeleteSPIs: func(r *bodyReader) Request {
		q := DeleteSPIsRequest{Dst: r.addr("dst"), Protocol: r.protocol("protocol", true)}
		n := r.u8("spis.count")
		for range n {
			if r.err != nil {
				break
			}
			q.SPIs = append(q.SPIs, r.u32("spis"))
		}
		return q
	},
	messaging.MsgGetSPI: func(r *bodyReader) Request {
		return GetSPIRequest{PolicyID: r.u32("policy"), Protocol: r.protocol("protocol", false), Dst: r.addr("dst")}
	},
	messaging.MsgAcquireFail: func(r *bodyReader) Request { return AcquireFailRequest{PolicyID: r.u32("policy")} },
	messaging.MsgAddSA: func(r *bodyReader) Request {
		q := AddSARequest{PolicyID: r.u32("policy")}
		r.manualSA(&q.SA)
		return q
	},
	messaging.MsgGetPolicy:   func(r *bodyReader) Request { return GetPolicyRequest{PolicyID: r.u32("policy")} },
	messaging.MsgGetPolicies: func(r *bodyReader) Request { return GetPoliciesRequest{After: r.u32("after")} },
	messaging.MsgLookupPolicy: func(r *bodyReader) Request {
		var q LookupPolicyRequest
		switch d := r.u8("direction"); {
		case r.err != nil:
		case d == lookupDirection(spd.Outbound):
			q.Direction = spd.Outbound
		case d == lookupDirection(spd.Inbound):
			q.Direction = spd.Inbound
		default:
			r.fail("direction", "%d: neither 1 (out) nor 2 (in)", d)
		}
		q.Key = r.packet("key")
		return q
	},
	messaging.MsgSAFlush:   func(*bodyReader) Request { return SAFlushRequest{} },
	messaging.MsgAddPolicy: func(r *bodyReader) Request { return AddPolicyRequest{Policy: r.policy("policy")} },
	messaging.MsgDelPolicy: func(r *bodyReader) Request { return DelPolicyRequest{PolicyID: r.u32("policy")} },
	messaging.MsgGetSA:     func(r *bodyReader) Request { return GetSARequest{PolicyID: r.u32("policy")} },
	messaging.MsgDelSA:     func(r *bodyReader) Request { return DelSARequest{PolicyID: r.u32("policy")} },
	messaging.MsgFlushSPD:  func(*bodyReader) Request { return FlushSPDRequest{} },
}

// EncodeRequest returns the message carrying req from src to IPsec.
func EncodeRequest(src Party, seq uint8, req Request) ([]byte, error) {
	body, err := requestBody(req)
	if err != nil {
		return nil, err
	}
	m := Message{Type: req.MsgType(), Src: src, Dst: PartyIPsec, Seq: seq, Body: body}
	return m.Marshal()
}

// requestBody returns req's data, unpadded.
func requestBody(req Request) ([]byte, error) {
	if req == nil {
		return nil, xe.Errorf(xe.BadParam, "wire: nil request")
	}
	w := newBodyWriter(req.MsgType(), "request")
	req.marshal(w)
	return w.bytes()
}

// DecodeRequest returns the request m carries.
func DecodeRequest(m *Message) (Request, error) {
	what := fmt.Sprintf("%v request", m.Type)
	if m.Reply {
		return nil, xe.Errorf(xe.BadParam, "wire: %s: flags: a reply, not a request", what)
	}
	dec := requestDecoders[m.Type]
	if dec == nil {
		return nil, xe.Errorf(xe.BadParam, "wire: %s: type: %d is not a request", what, uint8(m.Type))
	}
	r := &bodyReader{s: m.Body, what: what}
	req := dec(r)
	if err := r.finish(); err != nil {
		return nil, err
	}
	return req, nil
}

// A Reply is the data of a successful reply. The replies of ACQUIRE_FAIL,
// ADD_SA and DEL_POLICY carry none and are the nil Reply.
type Reply interface {
	marshalReply(w *bodyWriter)
}

// AppRegisterReply answers APP_REGISTER with the application's ID, the dst
// of the events it will receive.
type AppRegisterReply struct{ ID messaging.AppID }

// PolicyIDReply answers CLONE_POLICY and ADD_POLICY with the new policy's
// ID.
type PolicyIDReply struct{ PolicyID uint32 }

// CountReply answers INITIAL_CONTACT, DELETE_SPIs, SAFLUSH and DEL_SA with
// the number of SAs deleted, and FLUSH_SPD with the number of policies.
type CountReply struct{ Count uint32 }

// GetSPIReply answers GET_SPI.
type GetSPIReply struct{ SPI uint32 }

// PolicyReply answers GET_POLICY, GET_POLICIES and LOOKUP_POLICY.
type PolicyReply struct{ Policy spd.Policy }

// GetSAReply answers GET_SA.
type GetSAReply struct{ SAs []SAInfo }

// SAInfo describes an SA for GET_SA: what it is and its counters, never its
// keys.
type SAInfo struct {
	SPI           uint32
	Protocol      sad.Protocol
	Direction     sad.Direction
	Mode          sad.Mode
	State         sad.State
	ESN           bool
	Local, Remote netip.Addr
	Encap         *sad.UDPEncap
	Algorithm     string // e.g. "aes128gcm16"
	Sequence      uint64 // last sent (outbound) or highest received (inbound)
	Packets       uint64
	Bytes         uint64
	ReplayDrops   uint64
	ICVFailures   uint64
}

// SAInfoOf describes sa.
func SAInfoOf(sa *sad.SA) SAInfo {
	st := sa.Stats()
	info := SAInfo{
		SPI: sa.SPI(), Protocol: sa.Protocol(), Direction: sa.Direction(), Mode: sa.Mode(), State: st.State,
		ESN: sa.ESN(), Local: sa.Local(), Remote: sa.Remote(), Algorithm: sa.Algorithm(),
		Sequence: st.Sequence, Packets: st.Packets, Bytes: st.Bytes, ReplayDrops: st.ReplayDrops, ICVFailures: st.ICVFailures,
	}
	if encap, ok := sa.Encap(); ok {
		info.Encap = &encap
	}
	return info
}

func (r AppRegisterReply) marshalReply(w *bodyWriter) { w.u8(uint8(r.ID)) }
func (r PolicyIDReply) marshalReply(w *bodyWriter)    { w.u32(r.PolicyID) }
func (r CountReply) marshalReply(w *bodyWriter)       { w.u32(r.Count) }
func (r GetSPIReply) marshalReply(w *bodyWriter)      { w.u32(r.SPI) }
func (r PolicyReply) marshalReply(w *bodyWriter)      { w.policy("policy", &r.Policy) }

func (r GetSAReply) marshalReply(w *bodyWriter) {
	if !w.count("sas", len(r.SAs)) {
		return
	}
	for i := range r.SAs {
		w.saInfo(&r.SAs[i])
	}
}

// replyDecoders reads the data of each successful reply; a type missing
// here has none.
var replyDecoders = map[messaging.MsgType]func(r *bodyReader) Reply{
	messaging.MsgAppRegister:    func(r *bodyReader) Reply { return AppRegisterReply{ID: messaging.AppID(r.u8("id"))} },
	messaging.MsgClonePolicy:    decodePolicyIDReply,
	messaging.MsgInitialContact: decodeCountReply,
	messaging.MsgDeleteSPIs:     decodeCountReply,
	messaging.MsgGetSPI:         func(r *bodyReader) Reply { return GetSPIReply{SPI: r.u32("spi")} },
	messaging.MsgGetPolicy:      decodePolicyReply,
	messaging.MsgGetPolicies:    decodePolicyReply,
	messaging.MsgLookupPolicy:   decodePolicyReply,
	messaging.MsgSAFlush:        decodeCountReply,
	messaging.MsgAddPolicy:      decodePolicyIDReply,
	messaging.MsgGetSA: func(r *bodyReader) Reply {
		var q GetSAReply
		n := r.u8("sas.count")
		for range n {
			if r.err != nil {
				break
			}
			q.SAs = append(q.SAs, r.saInfo("sa"))
		}
		return q
	},
	messaging.MsgDelSA:    decodeCountReply,
	messaging.MsgFlushSPD: decodeCountReply,
}

func decodePolicyIDReply(r *bodyReader) Reply { return PolicyIDReply{PolicyID: r.u32("policy")} }
func decodeCountReply(r *bodyReader) Reply    { return CountReply{Count: r.u32("count")} }
func decodePolicyReply(r *bodyReader) Reply   { return PolicyReply{Policy: r.policy("policy")} }

// replyFits reports whether reply is the kind of reply type t takes.
func replyFits(t messaging.MsgType, reply Reply) bool {
	switch reply.(type) {
	case nil:
		return replyDecoders[t] == nil && (t.IsEvent() || requestDecoders[t] != nil)
	case AppRegisterReply:
		return t == messaging.MsgAppRegister
	case PolicyIDReply:
		return t == messaging.MsgClonePolicy || t == messaging.MsgAddPolicy
	case CountReply:
		return t == messaging.MsgInitialContact || t == messaging.MsgDeleteSPIs || t == messaging.MsgSAFlush || t == messaging.MsgDelSA || t == messaging.MsgFlushSPD
	case GetSPIReply:
		return t == messaging.MsgGetSPI
	case PolicyReply:
		return t == messaging.MsgGetPolicy || t == messaging.MsgGetPolicies || t == messaging.MsgLookupPolicy
	case GetSAReply:
		return t == messaging.MsgGetSA
	}
	return false
}

// StatusError is a reply's non-zero status and the detail IPsec sent with
// it. errors.Is(err, xe.PolicyNotFound) matches its code.
type StatusError struct {
	Code   xe.Code
	Detail string
}

// Error returns the code's name and the detail.
func (e *StatusError) Error() string {
	if e.Detail == "" {
		return e.Code.Error()
	}
	return e.Code.Name() + ": " + e.Detail
}

// Unwrap returns the code.
func (e *StatusError) Unwrap() error { return e.Code }

// EncodeReply returns the reply to req: reply's data when err is nil,
// otherwise err's XE code in the status and its text as the data.
func EncodeReply(req *Message, reply Reply, err error) ([]byte, error) {
	m, err := replyMessage(req.Type, req.Src, req.Seq, reply, err)
	if err != nil {
		return nil, err
	}
	return m.Marshal()
}

// replyMessage builds a reply of type t to dst. An error reply is built for
// any type, so that a message of an unknown type can be answered.
func replyMessage(t messaging.MsgType, dst Party, seq uint8, reply Reply, err error) (*Message, error) {
	m := &Message{Type: t, Src: PartyIPsec, Dst: dst, Seq: seq, Reply: true}
	if err != nil {
		m.Status = xe.CodeOf(err)
		if m.Status == xe.OK || m.Status >= xe.NumCodes {
			m.Status = xe.BadParam
		}
		detail := strings.TrimPrefix(err.Error(), m.Status.Name()+": ")
		var se *StatusError
		if errors.As(err, &se) {
			detail = se.Detail
		}
		w := newBodyWriter(t, "reply")
		w.str("detail", truncateUTF8(detail, 255))
		m.Body, err = w.bytes()
		return m, err
	}
	if !replyFits(t, reply) {
		return nil, xe.Errorf(xe.BadParam, "wire: %v reply: %T is not its reply", t, reply)
	}
	if reply != nil {
		w := newBodyWriter(t, "reply")
		reply.marshalReply(w)
		if m.Body, err = w.bytes(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// DecodeReply returns the data of reply m, or, when its status is not 0, a
// *StatusError with the code and detail.
func DecodeReply(m *Message) (Reply, error) {
	what := fmt.Sprintf("%v reply", m.Type)
	if !m.Reply {
		return nil, xe.Errorf(xe.BadParam, "wire: %s: flags: not a reply", what)
	}
	r := &bodyReader{s: m.Body, what: what}
	if m.Status != xe.OK {
		// Any type may be refused, even one IPsec does not know.
		detail := r.str("detail")
		if err := r.finish(); err != nil {
			return nil, err
		}
		return nil, &StatusError{Code: m.Status, Detail: detail}
	}
	if !m.Type.IsEvent() && requestDecoders[m.Type] == nil {
		return nil, xe.Errorf(xe.BadParam, "wire: %s: type: %d is unknown", what, uint8(m.Type))
	}
	var reply Reply
	if dec := replyDecoders[m.Type]; dec != nil {
		reply = dec(r)
	}
	if err := r.finish(); err != nil {
		return nil, err
	}
	return reply, nil
}

// EncodeEvent returns the event message carrying ev from IPsec to dst. A
// reason longer than 255 octets is cut short.
func EncodeEvent(dst Party, seq uint8, ev messaging.Event) ([]byte, error) {
	body, err := eventBody(ev)
	if err != nil {
		return nil, err
	}
	m := Message{Type: ev.Type, Src: PartyIPsec, Dst: dst, Seq: seq, Body: body}
	return m.Marshal()
}

// eventBody returns ev's data, unpadded.
func eventBody(ev messaging.Event) ([]byte, error) {
	if !ev.Type.IsEvent() {
		return nil, xe.Errorf(xe.BadParam, "wire: %v event: type: not an event", ev.Type)
	}
	w := newBodyWriter(ev.Type, "event")
	w.u32(ev.PolicyID)
	switch ev.Type {
	case messaging.MsgAcquire:
		w.optPolicy("policy", ev.Policy)
		w.packet("key", ev.Key)
	case messaging.MsgSAExpired, messaging.MsgSADeleted:
		w.u32(ev.SPI)
		w.u8(uint8(ev.Protocol))
		w.u8(uint8(ev.Direction))
		w.addr("dst", ev.Dst)
		w.bool(ev.Hard)
		w.str("reason", truncateUTF8(ev.Reason, 255))
	case messaging.MsgPolicyAdded, messaging.MsgPolicyDeleted:
		w.optPolicy("policy", ev.Policy)
	}
	return w.bytes()
}

// DecodeEvent returns the event m carries.
func DecodeEvent(m *Message) (messaging.Event, error) {
	what := fmt.Sprintf("%v event", m.Type)
	if !m.Type.IsEvent() {
		return messaging.Event{}, xe.Errorf(xe.BadParam, "wire: %s: type: %d is not an event", what, uint8(m.Type))
	}
	if m.Reply {
		return messaging.Event{}, xe.Errorf(xe.BadParam, "wire: %s: flags: a reply, not an event", what)
	}
	r := &bodyReader{s: m.Body, what: what}
	ev := messaging.Event{Type: m.Type, PolicyID: r.u32("policy")}
	switch m.Type {
	case messaging.MsgAcquire:
		ev.Policy = r.optPolicy("policy")
		ev.Key = r.packet("key")
	case messaging.MsgSAExpired, messaging.MsgSADeleted:
		ev.SPI = r.u32("spi")
		ev.Protocol = r.protocol("protocol", false)
		ev.Direction = r.saDirection("direction")
		ev.Dst = r.addr("dst")
		ev.Hard = r.bool("hard")
		ev.Reason = r.str("reason")
	case messaging.MsgPolicyAdded, messaging.MsgPolicyDeleted:
		ev.Policy = r.optPolicy("policy")
	}
	if err := r.finish(); err != nil {
		return messaging.Event{}, err
	}
	return ev, nil
}

// truncateUTF8 cuts s to at most n octets without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// Flags octets of ipsec.ManualSA and SAInfo.
const (
	saFlagESN   = 1
	saFlagEncap = 2
)

// Address families of addr.
const (
	familyNone = 0
	family4    = 4
	family6    = 6
)

// bodyWriter builds one message's data with cryptobyte. The first field
// that cannot be encoded fails the whole body with an error naming the
// message and the field.
type bodyWriter struct {
	b    *cryptobyte.Builder
	what string // e.g. "ADD_SA request"
	err  error
}

func newBodyWriter(t messaging.MsgType, kind string) *bodyWriter {
	return &bodyWriter{b: cryptobyte.NewBuilder(make([]byte, 0, 64)), what: fmt.Sprintf("%v %s", t, kind)}
}

func (w *bodyWriter) fail(code xe.Code, field, format string, args ...any) {
	if w.err == nil {
		w.err = xe.Errorf(code, "wire: %s: %s: %s", w.what, field, fmt.Sprintf(format, args...))
		w.b.SetError(w.err)
	}
}

func (w *bodyWriter) bytes() ([]byte, error) {
	body, err := w.b.Bytes()
	if err != nil {
		return nil, err
	}
	if len(body) > MaxBodyLen {
		return nil, xe.Errorf(xe.DstOutOfSpace, "wire: %s: %d octets of data, at most %d", w.what, len(body), MaxBodyLen)
	}
	return body, nil
}

func (w *bodyWriter) u8(v uint8)   { w.b.AddUint8(v) }
func (w *bodyWriter) u16(v uint16) { w.b.AddUint16(v) }
func (w *bodyWriter) u32(v uint32) { w.b.AddUint32(v) }
func (w *bodyWriter) u64(v uint64) { w.b.AddUint64(v) }

func (w *bodyWriter) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

// count writes a list's u8 count, or fails when there are too many.
func (w *bodyWriter) count(field string, n int) bool {
	if n > 255 {
		w.fail(xe.DstOutOfSpace, field, "%d entries, at most 255", n)
		return false
	}
	w.u8(uint8(n))
	return true
}

func (w *bodyWriter) key(field string, k []byte) {
	if len(k) > 255 {
		w.fail(xe.DstOutOfSpace, field, "%d octets, at most 255", len(k))
		return
	}
	w.b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(k) })
}

func (w *bodyWriter) str(field, s string) {
	if len(s) > 255 {
		w.fail(xe.DstOutOfSpace, field, "%d octets, at most 255", len(s))
		return
	}
	w.b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

func (w *bodyWriter) addr(field string, a netip.Addr) {
	switch {
	case !a.IsValid():
		w.u8(familyNone)
	case a.Zone() != "":
		w.fail(xe.BadParam, field, "%v: zones cannot be sent", a)
	case a.Is4():
		w.u8(family4)
		w.b.AddBytes(a.AsSlice())
	default:
		w.u8(family6)
		w.b.AddBytes(a.AsSlice())
	}
}

func (w *bodyWriter) selector(field string, s classify.Selector) {
	if !s.IsValid() {
		w.str(field, "")
		return
	}
	w.str(field, s.String())
}

func (w *bodyWriter) list(field string, l []string) {
	if !w.count(field, len(l)) {
		return
	}
	for _, s := range l {
		w.str(field, s)
	}
}

func (w *bodyWriter) lifetime(l sad.Lifetime) {
	w.u64(l.Bytes)
	w.u64(l.Packets)
	w.u64(uint64(l.Time))
}

func (w *bodyWriter) packet(field string, p classify.Packet) {
	w.addr(field+".src", p.Src)
	w.addr(field+".dst", p.Dst)
	w.u8(p.Proto)
	w.u16(p.SrcPort)
	w.u16(p.DstPort)
}

func (w *bodyWriter) replayWindow(field string, n int) {
	if n < 0 || int64(n) > 1<<31-1 {
		w.fail(xe.BadParam, field, "%d not in 0..%d", n, 1<<31-1)
		return
	}
	w.u32(uint32(n))
}

func (w *bodyWriter) policy(field string, p *spd.Policy) {
	w.u32(p.ID)
	w.str(field+".name", p.Name)
	w.u8(uint8(p.Action))
	w.u8(uint8(p.Mode))
	w.u8(p.Priority)
	w.u8(p.Proto)
	w.selector(field+".src", p.Src)
	w.selector(field+".dst", p.Dst)
	w.u32(uint32(p.Flags))
	w.addr(field+".tunnel_local", p.TunnelLocal)
	w.addr(field+".tunnel_remote", p.TunnelRemote)
	w.str(field+".remote_name", p.RemoteName)
	w.list(field+".esp_algorithms", p.ESPAlgorithms)
	w.list(field+".ah_algorithms", p.AHAlgorithms)
	w.u64(uint64(p.Lifetime))
	w.u64(uint64(p.RekeyTime))
	w.replayWindow(field+".replay_window", p.ReplayWindow)
}

func (w *bodyWriter) optPolicy(field string, p *spd.Policy) {
	w.bool(p != nil)
	if p != nil {
		w.policy(field, p)
	}
}

func (w *bodyWriter) encap(e *sad.UDPEncap) {
	if e != nil {
		w.u16(e.SrcPort)
		w.u16(e.DstPort)
	}
}

func (w *bodyWriter) manualSA(m *ipsec.ManualSA) {
	w.u16(uint16(m.Encr))
	w.key("sa.encr_key_in", m.EncrKeyIn)
	w.key("sa.encr_key_out", m.EncrKeyOut)
	w.u16(uint16(m.Integ))
	w.key("sa.integ_key_in", m.IntegKeyIn)
	w.key("sa.integ_key_out", m.IntegKeyOut)
	w.u32(m.ESPSPIIn)
	w.u32(m.ESPSPIOut)
	w.u32(m.AHSPIIn)
	w.u32(m.AHSPIOut)
	w.u8(saFlags(m.ESN, m.Encap))
	w.replayWindow("sa.replay_window", m.ReplayWindow)
	w.addr("sa.local", m.Local)
	w.addr("sa.remote", m.Remote)
	w.u8(uint8(m.Only))
	w.encap(m.Encap)
	w.lifetime(m.Soft)
	w.lifetime(m.Hard)
}

func (w *bodyWriter) saInfo(s *SAInfo) {
	w.u32(s.SPI)
	w.u8(uint8(s.Protocol))
	w.u8(uint8(s.Direction))
	w.u8(uint8(s.Mode))
	if s.State > 255 {
		w.fail(xe.BadParam, "sa.state", "%d does not fit an octet", uint32(s.State))
	}
	w.u8(uint8(s.State))
	w.u8(saFlags(s.ESN, s.Encap))
	w.addr("sa.local", s.Local)
	w.addr("sa.remote", s.Remote)
	w.encap(s.Encap)
	w.str("sa.algorithm", s.Algorithm)
	w.u64(s.Sequence)
	w.u64(s.Packets)
	w.u64(s.Bytes)
	w.u64(s.ReplayDrops)
	w.u64(s.ICVFailures)
}

func saFlags(esn bool, encap *sad.UDPEncap) uint8 {
	var f uint8
	if esn {
		f |= saFlagESN
	}
	if encap != nil {
		f |= saFlagEncap
	}
	return f
}

// bodyReader reads one message's data with cryptobyte, every read checked.
// The first read that fails is kept as an error naming the message and the
// field; later reads return zero values.
type bodyReader struct {
	s    cryptobyte.String
	what string // e.g. "ADD_SA request"
	err  error
}

func (r *bodyReader) fail(field, format string, args ...any) {
	if r.err == nil {
		r.err = xe.Errorf(xe.BadParam, "wire: %s: %s: %s", r.what, field, fmt.Sprintf(format, args...))
	}
}

func (r *bodyReader) truncated(field string) { r.fail(field, "truncated (%d octets left)", len(r.s)) }

// finish checks that only zero padding is left.
func (r *bodyReader) finish() error {
	if r.err != nil {
		return r.err
	}
	var pad []byte
	if len(r.s) > 3 || !r.s.ReadBytes(&pad, len(r.s)) {
		r.fail("length", "%d octets after the last field", len(r.s))
		return r.err
	}
	for _, c := range pad {
		if c != 0 {
			r.fail("padding", "% x is not zero", pad)
			break
		}
	}
	return r.err
}

func (r *bodyReader) u8(field string) uint8 {
	var v uint8
	if r.err == nil && !r.s.ReadUint8(&v) {
		r.truncated(field)
	}
	return v
}

func (r *bodyReader) u16(field string) uint16 {
	var v uint16
	if r.err == nil && !r.s.ReadUint16(&v) {
		r.truncated(field)
	}
	return v
}

func (r *bodyReader) u32(field string) uint32 {
	var v uint32
	if r.err == nil && !r.s.ReadUint32(&v) {
		r.truncated(field)
	}
	return v
}

func (r *bodyReader) u64(field string) uint64 {
	var v uint64
	if r.err == nil && !r.s.ReadUint64(&v) {
		r.truncated(field)
	}
	return v
}

func (r *bodyReader) bool(field string) bool {
	switch v := r.u8(field); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(field, "%d is neither 0 nor 1", v)
		return false
	}
}

// key returns a copy of a u8-length-prefixed octet string, nil when empty.
func (r *bodyReader) key(field string) []byte {
	var v cryptobyte.String
	if r.err == nil && !r.s.ReadUint8LengthPrefixed(&v) {
		r.truncated(field)
	}
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (r *bodyReader) str(field string) string {
	var v cryptobyte.String
	if r.err == nil && !r.s.ReadUint8LengthPrefixed(&v) {
		r.truncated(field)
	}
	return string(v)
}

func (r *bodyReader) addr(field string) netip.Addr {
	var b []byte
	switch fam := r.u8(field + ".family"); {
	case r.err != nil:
	case fam == familyNone:
	case fam == family4:
		if !r.s.ReadBytes(&b, 4) {
			r.truncated(field)
			break
		}
		return netip.AddrFrom4([4]byte(b))
	case fam == family6:
		if !r.s.ReadBytes(&b, 16) {
			r.truncated(field)
			break
		}
		return netip.AddrFrom16([16]byte(b))
	default:
		r.fail(field+".family", "%d is none of 0, 4 and 6", fam)
	}
	return netip.Addr{}
}

func (r *bodyReader) selector(field string) classify.Selector {
	text := r.str(field)
	if r.err != nil || text == "" {
		return classify.Selector{}
	}
	sel, err := classify.ParseSelector(text)
	if err != nil {
		r.fail(field, "%v", err)
	}
	return sel
}

func (r *bodyReader) list(field string) []string {
	var l []string
	n := r.u8(field + ".count")
	for range n {
		if r.err != nil {
			return nil
		}
		l = append(l, r.str(field))
	}
	return l
}

func (r *bodyReader) lifetime(field string) sad.Lifetime {
	return sad.Lifetime{
		Bytes:   r.u64(field + ".bytes"),
		Packets: r.u64(field + ".packets"),
		Time:    time.Duration(r.u64(field + ".time")),
	}
}

func (r *bodyReader) packet(field string) classify.Packet {
	return classify.Packet{
		Src:     r.addr(field + ".src"),
		Dst:     r.addr(field + ".dst"),
		Proto:   r.u8(field + ".proto"),
		SrcPort: r.u16(field + ".src_port"),
		DstPort: r.u16(field + ".dst_port"),
	}
}

// protocol reads an SA protocol: ESP or AH, or also "any" when allowAny.
func (r *bodyReader) protocol(field string, allowAny bool) sad.Protocol {
	p := sad.Protocol(r.u8(field))
	if r.err == nil && p != sad.ESP && p != sad.AH && !(allowAny && p == sad.ProtocolAny) {
		r.fail(field, "%d is not ESP (50) or AH (51)", uint8(p))
	}
	return p
}

func (r *bodyReader) saDirection(field string) sad.Direction {
	d := sad.Direction(r.u8(field))
	if r.err == nil && d != sad.Inbound && d != sad.Outbound {
		r.fail(field, "%d: neither 1 (inbound) nor 2 (outbound)", uint8(d))
	}
	return d
}

// only reads ManualSA.Only: 0 (both directions), inbound or outbound.
func (r *bodyReader) only(field string) sad.Direction {
	d := sad.Direction(r.u8(field))
	if r.err == nil && d != 0 && d != sad.Inbound && d != sad.Outbound {
		r.fail(field, "%d: none of 0 (both), 1 (inbound) and 2 (outbound)", uint8(d))
	}
	return d
}

func (r *bodyReader) replayWindow(field string) int {
	v := r.u32(field)
	if v > 1<<31-1 {
		r.fail(field, "%d above %d", v, 1<<31-1)
		return 0
	}
	return int(v)
}

func (r *bodyReader) policy(field string) spd.Policy {
	return spd.Policy{
		ID:            r.u32(field + ".id"),
		Name:          r.str(field + ".name"),
		Action:        spd.Action(r.u8(field + ".action")),
		Mode:          spd.Mode(r.u8(field + ".mode")),
		Priority:      r.u8(field + ".priority"),
		Proto:         r.u8(field + ".proto"),
		Src:           r.selector(field + ".src"),
		Dst:           r.selector(field + ".dst"),
		Flags:         spd.Flags(r.u32(field + ".flags")),
		TunnelLocal:   r.addr(field + ".tunnel_local"),
		TunnelRemote:  r.addr(field + ".tunnel_remote"),
		RemoteName:    r.str(field + ".remote_name"),
		ESPAlgorithms: r.list(field + ".esp_algorithms"),
		AHAlgorithms:  r.list(field + ".ah_algorithms"),
		Lifetime:      time.Duration(r.u64(field + ".lifetime")),
		RekeyTime:     time.Duration(r.u64(field + ".rekey_time")),
		ReplayWindow:  r.replayWindow(field + ".replay_window"),
	}
}

func (r *bodyReader) optPolicy(field string) *spd.Policy {
	if !r.bool(field+".present") || r.err != nil {
		return nil
	}
	p := r.policy(field)
	return &p
}

// flags reads the flags octet of ipsec.ManualSA and SAInfo.
func (r *bodyReader) flags(field string) (esn, encap bool) {
	f := r.u8(field)
	if r.err == nil && f&^(saFlagESN|saFlagEncap) != 0 {
		r.fail(field, "%#02x: unknown bits", f)
	}
	return f&saFlagESN != 0, f&saFlagEncap != 0
}

func (r *bodyReader) encap(field string, present bool) *sad.UDPEncap {
	if !present {
		return nil
	}
	return &sad.UDPEncap{SrcPort: r.u16(field + ".src_port"), DstPort: r.u16(field + ".dst_port")}
}

func (r *bodyReader) manualSA(m *ipsec.ManualSA) {
	m.Encr = suite.EncrID(r.u16("sa.encr"))
	m.EncrKeyIn = r.key("sa.encr_key_in")
	m.EncrKeyOut = r.key("sa.encr_key_out")
	m.Integ = suite.IntegID(r.u16("sa.integ"))
	m.IntegKeyIn = r.key("sa.integ_key_in")
	m.IntegKeyOut = r.key("sa.integ_key_out")
	m.ESPSPIIn = r.u32("sa.esp_spi_in")
	m.ESPSPIOut = r.u32("sa.esp_spi_out")
	m.AHSPIIn = r.u32("sa.ah_spi_in")
	m.AHSPIOut = r.u32("sa.ah_spi_out")
	var encap bool
	m.ESN, encap = r.flags("sa.flags")
	m.ReplayWindow = r.replayWindow("sa.replay_window")
	m.Local = r.addr("sa.local")
	m.Remote = r.addr("sa.remote")
	m.Only = r.only("sa.only")
	m.Encap = r.encap("sa.encap", encap)
	m.Soft = r.lifetime("sa.soft")
	m.Hard = r.lifetime("sa.hard")
}

func (r *bodyReader) saInfo(field string) SAInfo {
	var s SAInfo
	s.SPI = r.u32(field + ".spi")
	s.Protocol = r.protocol(field+".protocol", false)
	s.Direction = r.saDirection(field + ".direction")
	s.Mode = sad.Mode(r.u8(field + ".mode"))
	s.State = sad.State(r.u8(field + ".state"))
	var encap bool
	s.ESN, encap = r.flags(field + ".flags")
	s.Local = r.addr(field + ".local")
	s.Remote = r.addr(field + ".remote")
	s.Encap = r.encap(field+".encap", encap)
	s.Algorithm = r.str(field + ".algorithm")
	s.Sequence = r.u64(field + ".sequence")
	s.Packets = r.u64(field + ".packets")
	s.Bytes = r.u64(field + ".bytes")
	s.ReplayDrops = r.u64(field + ".replay_drops")
	s.ICVFailures = r.u64(field + ".icv_failures")
	return s
}
