package xe

import (
	"fmt"
	"net/netip"
)

// MaxArgs is how many values a Drop's detail holds.
const MaxArgs = 5

type argKind uint8

const (
	argUint argKind = iota + 1
	argInt
	argAddr
	argString
)

// Arg is one value in a Drop's detail, kept as it is until the detail is
// formatted.
type Arg struct {
	kind argKind
	n    uint64
	addr netip.Addr
	s    string
}

// Uint is an unsigned detail value (an SPI, a sequence number).
func Uint[T ~uint8 | ~uint16 | ~uint32 | ~uint64](v T) Arg { return Arg{kind: argUint, n: uint64(v)} }

// Int is a signed detail value (a length, an offset).
func Int(v int) Arg { return Arg{kind: argInt, n: uint64(v)} }

// Addr is an address in a detail.
func Addr(a netip.Addr) Arg { return Arg{kind: argAddr, addr: a} }

// Str is a string in a detail; it is kept, not copied.
func Str(s string) Arg { return Arg{kind: argString, s: s} }

func (a Arg) value() any {
	switch a.kind {
	case argUint:
		return a.n
	case argInt:
		return int64(a.n)
	case argAddr:
		return a.addr
	case argString:
		return a.s
	}
	return nil
}

// Drop is an error of a Code with the values that explain it: the format
// and its values are kept and formatted only when Error is called, so that
// recording why a packet was dropped allocates nothing. A Drop lives where
// its packet does (pktbuf.Buffer.Reason) and is valid until the packet's
// buffer is reused.
type Drop struct {
	Code   Code
	format string // a constant: the detail's fmt format
	args   [MaxArgs]Arg
	nargs  uint8
	err    error // set by Wrap: the reason is this error
}

// Set records code c with the detail format and args (fmt verbs, at most
// MaxArgs values) and returns d as an error. Do not put key material in
// the detail.
func (d *Drop) Set(c Code, format string, args ...Arg) error {
	d.Code, d.format, d.err = c, format, nil
	d.nargs = uint8(copy(d.args[:], args))
	return d
}

// Wrap records err, an error made elsewhere, as the reason: d then says
// what err says and unwraps to it. err must not be d.
func (d *Drop) Wrap(err error) {
	d.Code, d.format, d.nargs, d.err = CodeOf(err), "", 0, err
}

// Clone returns a copy of d that outlives d's packet.
func (d *Drop) Clone() error {
	c := *d
	return &c
}

// Error formats the detail as Errorf would have: "XE_NAME: detail".
func (d *Drop) Error() string {
	if d.err != nil {
		return d.err.Error()
	}
	var vals [MaxArgs]any
	for i := range d.nargs {
		vals[i] = d.args[i].value()
	}
	return d.Code.Name() + ": " + fmt.Sprintf(d.format, vals[:d.nargs]...)
}

// Unwrap lets errors.Is match the code.
func (d *Drop) Unwrap() error {
	if d.err != nil {
		return d.err
	}
	return d.Code
}
