// Package e2e holds Sabre's end-to-end tests: two network namespaces
// joined by a veth pair, a `sabre run` daemon in each, configured only
// through ike_rc files with manually keyed SAs, and real traffic between
// them (ping, a multi-megabyte TCP transfer) checked on the wire: tshark
// sees only ESP and decrypts it with the SA keys, and replayed and tampered
// ESP packets injected on the veth are dropped and counted in
// `sabre ipsec netstat -a`.
//
// The tests need root and /dev/net/tun (they skip with a message
// otherwise) and tshark (which `make test` installs). Run them with
//
//	go test ./e2e -v
//
// SABRE_E2E_KEEP=dir keeps the captures, the esp_sa tables and the daemon
// logs in dir.
package e2e
