package main

import (
	"net/netip"
	"time"

	"github.com/google/gopacket"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/spd"
)

// classifySelector selects a host's /24 (/64) in tunnel mode or the host
// itself in transport mode.
func classifySelector(a netip.Addr, m spd.Mode) (classify.Selector, error) {
	if m == spd.Transport {
		return classify.SelectorFromAddr(a)
	}
	bits := 24
	if a.Is6() {
		bits = 64
	}
	return classify.SelectorFromPrefix(netip.PrefixFrom(a, bits).Masked())
}

func captureInfo(n int) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: n, Length: n}
}
