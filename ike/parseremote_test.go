package ike_test

import (
	"github.com/sabre-ipsec/sabre/cli"
	"github.com/sabre-ipsec/sabre/ike"
)

func init() { ike.ParseRemote = cli.ParseRemote }
