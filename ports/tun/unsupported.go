//go:build !linux

package tun

import (
	"errors"
	"net/netip"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
)

// IKEHandler receives an IKE message; see the Linux build.
type IKEHandler func(msg []byte, local, remote netip.AddrPort)

// Config configures a Device; see the Linux build.
type Config struct {
	Name              string
	MTU               int
	Engine            *ipsec.Engine
	IKE               IKEHandler
	FwMark            uint32
	IKEPort, NATTPort uint16
}

// Device is the Linux TUN device; other systems do not have it yet.
type Device struct{ stats Stats }

// Open fails: the TUN port is Linux-only.
func Open(Config) (*Device, error) { return nil, errors.New("tun: only Linux is supported") }

// Name returns "".
func (d *Device) Name() string { return "" }

// Stats returns the counters.
func (d *Device) Stats() *Stats { return &d.stats }

// Output drops b.
func (d *Device) Output(b *pktbuf.Buffer) { pktbuf.DefaultPool.Put(b) }

// SendIKE fails.
func (d *Device) SendIKE([]byte, uint16, netip.AddrPort) error { return errors.New("tun: unsupported") }

// Close does nothing.
func (d *Device) Close() error { return nil }
