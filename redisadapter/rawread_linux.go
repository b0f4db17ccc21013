package redisadapter

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// socketReader returns what the subscription's reader reads conn through. On Linux, for a plain TCP or
// Unix socket, it is a reader that calls read(2) as a raw system call on the non-blocking socket and
// waits for readability in the runtime's poller when there is nothing to read, as net.Conn does. A
// read system call made the ordinary way tells the scheduler it may block: in a process otherwise
// idle that wakes the runtime's monitor thread on every wake-up of the read loop, which cost ≈ 12 % of
// a routed node's receive CPU (docs/benchmarks.md, "Routed receive: where the CPU goes"). A read of a
// non-blocking socket returns at once, so the raw call is safe. Deadlines and Close interrupt a wait as
// they do a net.Conn's Read. Any other connection (TLS, a wrapper from a custom Dialer) is read as
// itself; the adapter's own connection tracking (trackedSysConn) is seen through.
func socketReader(conn net.Conn) io.Reader {
	socket := conn
	if t, ok := conn.(*trackedSysConn); ok {
		socket = t.Conn // the adapter's own wrapper (conns.go), whose Read is the socket's
	}
	switch c := socket.(type) {
	case *net.TCPConn:
		if rc, err := c.SyscallConn(); err == nil {
			return &rawReader{rc: rc}
		}
	case *net.UnixConn:
		if rc, err := c.SyscallConn(); err == nil {
			return &rawReader{rc: rc}
		}
	}
	return conn
}

// rawReader reads a non-blocking socket with raw read system calls (socketReader).
type rawReader struct {
	rc syscall.RawConn
}

func (r *rawReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n uintptr
	var errno syscall.Errno
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			n, _, errno = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch errno {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until the socket is readable, then call again
			}
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err // closed (net.ErrClosed) or past a deadline (os.ErrDeadlineExceeded), as net.Conn
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}
