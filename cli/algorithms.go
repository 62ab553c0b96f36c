package cli

import (
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// encrAlg is an encryption algorithm named on a command line.
type encrAlg struct {
	name   string // as the operator wrote it
	id     suite.EncrID
	bits   int
	keyLen int // octets of keying material, salt included
}

// integAlg is an integrity algorithm named on a command line.
type integAlg struct {
	name   string
	id     suite.IntegID
	keyLen int
}

// parseEncr looks up the encryption algorithm name of option opt through
// suite's name table. AES names must carry the key size.
func parseEncr(cmd, opt, name string) (encrAlg, error) {
	id, bits, err := suite.EncrByName(name)
	if err != nil {
		return encrAlg{}, errorf(xe.UnknownAlgorithm, "%s: %s %q: unknown encryption algorithm", cmd, opt, name)
	}
	n, err := suite.EncrKeyLen(id, bits)
	if err != nil {
		return encrAlg{}, errorf(xe.UnknownAlgorithm, "%s: %s %q: give the AES key size (as in AES128-CBC, AES256-GCM16)", cmd, opt, name)
	}
	return encrAlg{name: name, id: id, bits: bits, keyLen: n}, nil
}

// parseInteg looks up the integrity algorithm name of option opt.
func parseInteg(cmd, opt, name string) (integAlg, error) {
	id, err := suite.IntegByName(name)
	if err != nil {
		return integAlg{}, errorf(xe.UnknownAlgorithm, "%s: %s %q: unknown authentication algorithm", cmd, opt, name)
	}
	if id == suite.IntegNone {
		return integAlg{}, errorf(xe.UnknownAlgorithm, "%s: %s %q: not an authentication algorithm (leave %s out for combined-mode ciphers)", cmd, opt, name, opt)
	}
	n, err := suite.IntegKeyLen(id)
	if err != nil {
		return integAlg{}, errorf(xe.UnknownAlgorithm, "%s: %s %q: %s", cmd, opt, name, detail(err))
	}
	return integAlg{name: name, id: id, keyLen: n}, nil
}
