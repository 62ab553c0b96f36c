package main

// The control socket: how `sabre ipsec`, `sabre ike` and `sabre console`
// talk to `sabre run`.
//
// Transport. A Unix stream socket, by default /run/sabre/sabre.sock. The
// daemon creates its directory with mode 0700 if it is missing and the
// socket with mode 0600, so only the daemon's user (root) can connect. A
// connection carries any number of requests, one at a time: the client
// sends a request, reads the reply, and may send the next.
//
// Request: the command line as argv, already split into words.
//
//	uint32  argc            (1..controlMaxArgs)
//	argc times:
//	  uint32  length        (0..controlMaxArg)
//	  bytes   the word      (UTF-8)
//
// Reply:
//
//	uint32  exit status     0 success, 1 the command failed, 2 usage
//	                        (unknown command family, malformed request)
//	uint32  length          (0..controlMaxOutput)
//	bytes   output text     what the command printed, then its error
//
// All integers are big-endian. argv[0] chooses the command family:
// "ipsec" and "ike" go to the cli package (the same commands as in an
// ike_rc file), "tun" prints the TUN device's counters. A malformed
// request gets a status-2 reply and the connection is closed.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Limits of the control protocol.
const (
	controlMaxArgs   = 1024
	controlMaxArg    = 64 << 10
	controlMaxOutput = 64 << 20
)

// Exit statuses of a control reply.
const (
	statusOK     = 0
	statusFailed = 1
	statusUsage  = 2
)

// defaultSocket is where the daemon listens and the clients connect by
// default.
const defaultSocket = "/run/sabre/sabre.sock"

// controlHandler runs one request and writes its output to out, returning
// the exit status.
type controlHandler func(args []string, out io.Writer) int

// writeRequest sends argv as one request.
func writeRequest(w io.Writer, args []string) error {
	if len(args) == 0 || len(args) > controlMaxArgs {
		return fmt.Errorf("control: %d words in a request (1..%d)", len(args), controlMaxArgs)
	}
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(len(args)))
	for _, a := range args {
		if len(a) > controlMaxArg {
			return fmt.Errorf("control: a %d-byte word (at most %d)", len(a), controlMaxArg)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(a)))
		b = append(b, a...)
	}
	_, err := w.Write(b)
	return err
}

// readRequest reads one request. io.EOF means the client closed the
// connection between requests.
func readRequest(r io.Reader) ([]string, error) {
	argc, err := readUint32(r)
	if err != nil {
		return nil, err
	}
	if argc == 0 || argc > controlMaxArgs {
		return nil, fmt.Errorf("control: request with %d words (1..%d)", argc, controlMaxArgs)
	}
	args := make([]string, argc)
	for i := range args {
		n, err := readUint32(r)
		if err != nil {
			return nil, noEOF(err)
		}
		if n > controlMaxArg {
			return nil, fmt.Errorf("control: word of %d bytes (at most %d)", n, controlMaxArg)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, noEOF(err)
		}
		args[i] = string(b)
	}
	return args, nil
}

// writeReply sends a reply.
func writeReply(w io.Writer, status int, output []byte) error {
	if len(output) > controlMaxOutput {
		output = append(output[:controlMaxOutput-32:controlMaxOutput-32], "\n[output truncated]\n"...)
	}
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(status))
	b = binary.BigEndian.AppendUint32(b, uint32(len(output)))
	b = append(b, output...)
	_, err := w.Write(b)
	return err
}

// readReply reads a reply.
func readReply(r io.Reader) (status int, output []byte, err error) {
	s, err := readUint32(r)
	if err != nil {
		return 0, nil, noEOF(err)
	}
	n, err := readUint32(r)
	if err != nil {
		return 0, nil, noEOF(err)
	}
	if n > controlMaxOutput {
		return 0, nil, fmt.Errorf("control: reply of %d bytes (at most %d)", n, controlMaxOutput)
	}
	output = make([]byte, n)
	if _, err := io.ReadFull(r, output); err != nil {
		return 0, nil, noEOF(err)
	}
	return int(s), output, nil
}

func readUint32(r io.Reader) (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// noEOF turns an EOF inside a message into ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// socketKind names one of the daemon's sockets in messages: what it is and
// the flag that chooses its path.
type socketKind struct{ name, flag string }

// The daemon's sockets.
var (
	controlSocket   = socketKind{"control socket", "-sock"}
	messagingSocket = socketKind{"messaging socket", "-msgsock"}
)

// socketServer serves one of the daemon's sockets: each connection on a
// goroutine of its own.
type socketServer struct {
	path      string
	ln        *net.UnixListener
	serveConn func(net.Conn) // returns when the connection is done
	log       *slog.Logger
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]bool
	closing   bool
}

// listenControl creates the control socket at path (listenSocket) and
// serves its requests with handle.
func listenControl(path string, handle controlHandler, log *slog.Logger) (*socketServer, error) {
	return listenSocket(controlSocket, path, log, func(c net.Conn) { serveControl(c, handle, log) })
}

// listenSocket creates the socket at path: the directory (0700) if
// missing, then the socket (0600). The directory must be the daemon
// user's (or root's) and writable by no one else: whoever can write there
// can replace the socket. A stale socket left by a daemon that died is
// replaced; anything else at path (a file, a directory, a socket that
// answers) is refused, never deleted. serveConn serves each connection.
func listenSocket(k socketKind, path string, log *slog.Logger, serveConn func(net.Conn)) (*socketServer, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("%s directory: %w", k.name, err)
		}
	}
	if err := checkSocketDir(k, dir); err != nil {
		return nil, err
	}
	if err := removeStaleSocket(k, path); err != nil {
		return nil, err
	}
	// The umask makes the socket 0600 from the start; the chmod below
	// is for umasks that are looser still in other bits.
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.name, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("%s: %w", k.name, err)
	}
	s := &socketServer{path: path, ln: ln, serveConn: serveConn, log: log.With("socket", path), conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// checkSocketDir refuses a socket directory that is not a directory, not
// owned by this user or root, or writable by group or others.
func checkSocketDir(k socketKind, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s directory: %w", k.name, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s directory %s is not a directory", k.name, dir)
	case ok && st.Uid != 0 && int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s directory %s is owned by uid %d, not by this user (uid %d) or root", k.name, dir, st.Uid, os.Geteuid())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s directory %s has mode %v: others could replace the socket; use a directory only its owner can write (chmod go-w, or another %s)", k.name, dir, fi.Mode().Perm(), k.flag)
	}
	return nil
}

// checkSocketPath refuses, without changing anything, a socket path that
// listenSocket would refuse: a directory that is not safe, or something
// at path other than a stale socket.
func checkSocketPath(k socketKind, path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); err == nil {
		if err := checkSocketDir(k, dir); err != nil {
			return err
		}
	}
	_, err := staleSocket(k, path)
	return err
}

// removeStaleSocket removes the socket at path if it is stale (nobody
// listens), and refuses anything else there.
func removeStaleSocket(k socketKind, path string) error {
	stale, err := staleSocket(k, path)
	if err != nil || !stale {
		return err
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale %s: %w", k.name, err)
	}
	return nil
}

// staleSocket reports whether path is a socket nobody listens on; nothing
// at path is fine too, and anything else is an error.
func staleSocket(k socketKind, path string) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", k.name, path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return false, fmt.Errorf("%s %s: something else is there (%s); remove it yourself or choose another %s", k.name, path, fileKind(fi.Mode()), k.flag)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false, fmt.Errorf("a daemon is already listening on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return false, fmt.Errorf("%s %s: cannot tell whether a daemon listens on it: %w", k.name, path, err)
	}
	return true, nil
}

// fileKind names a file's type for messages.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m.IsRegular():
		return "a regular file"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a socket"
}

func (s *socketServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return
			}
			s.log.Warn("accept failed", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serveConn(c)
		}()
	}
}

// serveControl answers the control requests of one connection.
func serveControl(c net.Conn, handle controlHandler, log *slog.Logger) {
	r := bufio.NewReader(c)
	for {
		args, err := readRequest(r)
		if err == io.EOF {
			return
		}
		if err != nil {
			log.Debug("control: bad request", "err", err)
			writeReply(c, statusUsage, []byte(err.Error()+"\n"))
			return
		}
		log.Debug("control request", "args", args)
		var out bytes.Buffer
		status := handle(args, &out)
		if err := writeReply(c, status, out.Bytes()); err != nil {
			return
		}
	}
}

// Close stops accepting, closes the connections and removes the socket.
func (s *socketServer) Close() error {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close() // also removes the socket file
	s.wg.Wait()
	return err
}

// controlClient is a connection to the daemon.
type controlClient struct {
	path string
	c    net.Conn
	r    *bufio.Reader
}

// errNotRunning says that no daemon listens on the socket.
type errNotRunning struct{ path string }

func (e errNotRunning) Error() string {
	return fmt.Sprintf("daemon not running (no socket at %s): start it with `sabre run`, or name the socket of the running one with -sock PATH or $SABRE_SOCKET", e.path)
}

// dialControl connects to the daemon at path.
func dialControl(path string) (*controlClient, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, errNotRunning{path}
		}
		return nil, fmt.Errorf("connect to the daemon at %s: %w", path, err)
	}
	return &controlClient{path: path, c: c, r: bufio.NewReader(c)}, nil
}

// Do sends one request and returns the daemon's reply.
func (cc *controlClient) Do(args []string) (int, []byte, error) {
	if err := writeRequest(cc.c, args); err != nil {
		return 0, nil, err
	}
	status, out, err := readReply(cc.r)
	if err != nil {
		return 0, nil, fmt.Errorf("reply from the daemon at %s: %w", cc.path, err)
	}
	return status, out, nil
}

// Close closes the connection.
func (cc *controlClient) Close() error { return cc.c.Close() }
