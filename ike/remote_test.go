package ike

// ParseRemote is cli.ParseRemote, set by parseremote_test.go (package
// ike_test, which may import cli): the tests write remotes as `ike remote`
// lines, whose parser is in cli, above ike.
var ParseRemote func(args []string) (Remote, error)
