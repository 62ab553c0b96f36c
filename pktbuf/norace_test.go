//go:build !race

package pktbuf

const raceEnabled = false
