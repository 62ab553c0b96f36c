package sad

import (
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// buildTransform returns the transform of a validated Config: the prebuilt
// one if set, otherwise one built by package suite.
func buildTransform(c *Config) (suite.ESP, suite.AH, error) {
	switch c.Protocol {
	case ESP:
		if c.ESPTransform != nil {
			return c.ESPTransform, nil, nil
		}
		t, err := suite.NewESP(c.ESP)
		if err != nil {
			return nil, nil, xe.Errorf(xe.CodeOf(err), "ESP SA SPI %#08x: %v", c.SPI, err)
		}
		return t, nil, nil
	case AH:
		if c.AHTransform != nil {
			return nil, c.AHTransform, nil
		}
		t, err := suite.NewAH(c.AHInteg, c.AHKey, c.AHShortICV)
		if err != nil {
			return nil, nil, xe.Errorf(xe.CodeOf(err), "AH SA SPI %#08x: %v", c.SPI, err)
		}
		return nil, t, nil
	}
	return nil, nil, xe.Errorf(xe.BadParam, "SA protocol %v", c.Protocol)
}
