package main

// The messaging socket (`sabre run -msgsock PATH`): the reference's
// messaging interface (§3.14) for key managers in other processes, in any
// language. It is off unless -msgsock is given.
//
// Transport. A Unix stream socket, created as the control socket is
// (control.go): its directory 0700 if missing and owned by the daemon's
// user or root and writable by no one else, the socket 0600, a stale
// socket replaced and anything else at the path refused. A connection is
// one application.
//
// Protocol. The 8-octet header and the bodies of package
// ipsec/messaging/wire, whose documentation lists every field. An
// application sends APP_REGISTER and gets its application ID; from then
// on IPsec writes it every event (ACQUIRE, SA_EXPIRED, SA_DELETED,
// POLICY_ADDED, POLICY_DELETED, dst = its ID) between the replies to its
// requests (GET_SPI, ADD_SA, ACQUIRE_FAIL, GET_POLICY, ...). Closing the
// connection unregisters it. The IKE daemon is an application of the same
// interface in-process: it leaves the ACQUIREs of policies without an IKE
// remote (`ipsec policy` without -g) to the other applications.

import (
	"log/slog"
	"net"

	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/ipsec/messaging/wire"
)

// listenMessaging serves the messaging interface m on the socket at path
// (listenSocket), one application per connection.
func listenMessaging(path string, m *messaging.Messaging, log *slog.Logger) (*socketServer, error) {
	return listenSocket(messagingSocket, path, log, func(c net.Conn) {
		if err := wire.Serve(m, c); err != nil {
			log.Debug("messaging connection ended", "err", err)
		}
	})
}
