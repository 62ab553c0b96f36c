package rfc4301

import "testing"

func TestString(t *testing.T) {
	for _, tt := range []struct {
		v    interface{ String() string }
		want string
	}{
		{Transport, "transport"},
		{Tunnel, "tunnel"},
		{Mode(0), "Mode(0)"},
		{Mode(7), "Mode(7)"},
		{Inbound, "inbound"},
		{Outbound, "outbound"},
		{Direction(0), "Direction(0)"},
		{Direction(3), "Direction(3)"},
	} {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.v, got, tt.want)
		}
	}
}
