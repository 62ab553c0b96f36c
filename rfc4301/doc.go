// Package rfc4301 defines the two small enumerations of the IPsec
// architecture (RFC 4301) that the SPD, the SAD and everything above them
// share: the Mode of a policy or SA and the Direction of a packet or SA.
// spd and sad export them under their own names (spd.Mode is sad.Mode is
// rfc4301.Mode), so a policy's mode is an SA's mode without translation.
package rfc4301
