package redisadapter

import (
	"context"
	"net"
	"sync"
	"syscall"
)

// connSet holds the connections that the adapter's own client (made from Config.URL) has open, so
// that Close can break round trips that would otherwise block it. go-redis does not watch contexts
// during I/O (a context's deadline becomes the socket's only with ContextTimeoutEnabled, and its
// cancellation never does), so a round trip into a black hole lasts until the read timeout (5 s by
// default). Closing the client closes the connections of its pool, in use or not, but not the one a
// subscription is still setting up (its HELLO unanswered); closing every connection does.
type connSet struct {
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newConnSet() *connSet { return &connSet{conns: make(map[*trackedConn]struct{})} }

// dialer wraps dial so that every connection it makes is in the set until it is closed.
func (s *connSet) dialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		t := &trackedConn{Conn: c, set: s}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil, net.ErrClosed
		}
		s.conns[t] = struct{}{}
		s.mu.Unlock()
		if sc, ok := c.(syscall.Conn); ok {
			// go-redis checks an idle connection's health through its file descriptor.
			return &trackedSysConn{trackedConn: t, sys: sc}, nil
		}
		return t, nil
	}
}

// closeAll closes every connection in the set, and makes the dialer fail from now on.
func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	open := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

// trackedConn is a connection of a connSet; closing it takes it out of the set.
type trackedConn struct {
	net.Conn
	set *connSet
}

func (c *trackedConn) Close() error {
	c.set.mu.Lock()
	delete(c.set.conns, c)
	c.set.mu.Unlock()
	return c.Conn.Close()
}

// trackedSysConn is a trackedConn over a connection with a file descriptor (TCP, Unix), which it
// exposes as the connection does.
type trackedSysConn struct {
	*trackedConn
	sys syscall.Conn
}

func (c *trackedSysConn) SyscallConn() (syscall.RawConn, error) { return c.sys.SyscallConn() }
