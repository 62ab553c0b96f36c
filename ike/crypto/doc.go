// Package ikecrypto is the cryptography of IKEv2 (RFC 7296): the
// pseudorandom functions and prf+ (§2.13), the derivation of SKEYSEED and
// the IKE SA keys (§2.14, §2.18) and of Child SA keying material (§2.17),
// the AUTH payload computation for shared keys (§2.15), the protection of
// the Encrypted (SK) payload (§3.14, RFC 5282, RFC 7634) and the key
// exchange groups (§2.12, RFC 3526, RFC 5903, RFC 8031).
//
// Algorithms are named by their IKEv2 transform IDs. The encryption and
// integrity IDs are the ones package suite defines for ESP, since IANA has
// one table for both; the PRF and key exchange IDs are defined here.
//
// Nothing here parses or builds IKE messages: the message layer hands this
// package the octets the RFC says are covered (the IKE header through the
// SK payload header as associated data, the inner payloads as plaintext)
// and gets back the SK payload body.
package ikecrypto
