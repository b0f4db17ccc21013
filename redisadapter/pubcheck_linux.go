package redisadapter

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// ownPublishConn tells whether the publisher may use a connection of its own (pubConn): on Linux it
// can check an idle connection's health as go-redis's pool does.
const ownPublishConn = true

// errUnexpectedData is the health check's error for a connection with something to read between round
// trips, which Redis never sends a connection that only publishes.
var errUnexpectedData = errors.New("unexpected data on an idle connection")

// connCheck checks the health of an idle connection as go-redis's pool does before handing one out: a
// peek at the socket that does not wait, which finds a connection closed by Redis (a restart, its
// client timeout, a proxy that dropped it) before a frame is written into it. Written so that a check
// allocates nothing: the peek function is made once per connection.
type connCheck struct {
	rc   syscall.RawConn // nil: a connection that cannot be checked (TLS, as go-redis's is not)
	peek func(fd uintptr) bool
	err  error
	buf  [1]byte
}

func newConnCheck(conn net.Conn) *connCheck {
	c := &connCheck{}
	socket := conn
	if t, ok := conn.(*trackedSysConn); ok {
		socket = t.Conn
	}
	switch s := socket.(type) {
	case *net.TCPConn:
		c.rc, _ = s.SyscallConn()
	case *net.UnixConn:
		c.rc, _ = s.SyscallConn()
	}
	c.peek = func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), c.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n == 0 && err == nil:
			c.err = io.EOF
		case n > 0:
			c.err = errUnexpectedData
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			c.err = nil
		default:
			c.err = err
		}
		return true
	}
	return c
}

// check returns nil for a connection that looks usable.
func (c *connCheck) check() error {
	if c.rc == nil {
		return nil
	}
	if err := c.rc.Read(c.peek); err != nil {
		return err
	}
	return c.err
}
