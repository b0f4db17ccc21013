package redisadapter

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
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
//
// It is also the connection's reader (read): raw read system calls on the non-blocking socket, as the
// subscription's socketReader makes, but through a function made once per connection, so that a read
// allocates nothing (a closure made per read escapes to the heap).
type connCheck struct {
	rc   syscall.RawConn // nil: a connection that cannot be checked (TLS, as go-redis's is not)
	peek func(fd uintptr) bool
	err  error
	buf  [1]byte

	readFn func(fd uintptr) bool
	p      []byte // the buffer of the read in progress
	n      uintptr
	errno  syscall.Errno
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
	c.readFn = func(fd uintptr) bool {
		for {
			c.n, _, c.errno = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.p[0])), uintptr(len(c.p)))
			switch c.errno {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until the socket is readable, then call again
			}
			return true
		}
	}
	return c
}

// reader returns what the connection's answers are read through: c for a socket, else conn.
func (c *connCheck) reader(conn net.Conn) io.Reader {
	if c.rc == nil {
		return conn
	}
	return c
}

// Read reads the socket (see connCheck).
func (c *connCheck) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.p = p
	err := c.rc.Read(c.readFn)
	c.p = nil
	switch {
	case err != nil:
		return 0, err // closed (net.ErrClosed) or past a deadline (os.ErrDeadlineExceeded), as net.Conn
	case c.errno != 0:
		return 0, os.NewSyscallError("read", c.errno)
	case c.n == 0:
		return 0, io.EOF
	}
	return int(c.n), nil
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
