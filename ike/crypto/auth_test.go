package ikecrypto

import (
	"bytes"
	"testing"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// TestSharedKeyAuth checks the AUTH computation of RFC 7296 §2.15 against
// its definition, built from Compute: the key pad is the 17 octets of
// "Key Pad for IKEv2" without a NUL, and the signed octets are the real
// message, the peer's nonce data and prf(SK_p, IDx').
func TestSharedKeyAuth(t *testing.T) {
	if len(keyPad) != 17 {
		t.Fatalf("key pad is %d octets", len(keyPad))
	}
	msg := []byte("IKE_SA_INIT request as sent")
	nonceR := bytes.Repeat([]byte{0x4e}, 32)
	idBody := []byte{2, 0, 0, 0, 'a', '.', 'e', 'x'} // ID_FQDN "a.ex"
	psk := []byte("a pre-shared key")
	for _, id := range []message.PRFID{message.PRFHMACSHA1, message.PRFHMACSHA2256, message.PRFHMACSHA2384, message.PRFHMACSHA2512, message.PRFAES128XCBC, message.PRFAES128CMAC} {
		p := mustPRF(t, id)
		skpi := bytes.Repeat([]byte{0x5a}, p.KeyLen())
		octets := p.SignedOctets(msg, nonceR, skpi, idBody)
		want := append(append(append([]byte(nil), msg...), nonceR...), p.Compute(skpi, idBody)...)
		if !bytes.Equal(octets, want) {
			t.Errorf("%v: SignedOctets = %x, want %x", id, octets, want)
		}
		auth := p.SharedKeyAuth(psk, octets)
		if w := p.Compute(p.Compute(psk, []byte("Key Pad for IKEv2")), octets); !bytes.Equal(auth, w) || len(auth) != p.Size() {
			t.Errorf("%v: AUTH = %x, want %x", id, auth, w)
		}
		if !VerifyAuth(auth, p.SharedKeyAuth(psk, octets)) {
			t.Errorf("%v: VerifyAuth refused an equal value", id)
		}
		other := p.SharedKeyAuth([]byte("another key"), octets)
		if VerifyAuth(other, auth) || VerifyAuth(auth[:len(auth)-1], auth) || VerifyAuth(nil, auth) {
			t.Errorf("%v: VerifyAuth accepted a different value", id)
		}
	}
}
