package faultproxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// dialTimeout bounds the proxy's connection to the upstream server.
const dialTimeout = 5 * time.Second

// Proxy forwards every TCP connection accepted on its address to the upstream address, byte for
// byte, until told to misbehave. Make one with New; every method is safe for concurrent use.
type Proxy struct {
	ln       net.Listener
	upstream string
	ctx      context.Context // cancelled by Close: aborts dials in progress
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the accept loop and every pump

	mu        sync.Mutex
	blackhole bool          // nothing passes, either way
	replies   bool          // nothing passes from the server to the client
	changed   chan struct{} // closed (and replaced) when a held pump must look again
	conns     map[*conn]struct{}
	closed    bool
}

// conn is one proxied connection: the client's side and the proxy's connection upstream.
type conn struct {
	client, server net.Conn
	frozen         bool // black-holed for good (BlackholeLive); guarded by Proxy.mu
	dead           bool // torn down; guarded by Proxy.mu
}

// New listens on listen ("127.0.0.1:0" picks a free port) and forwards every connection to upstream.
func New(listen, upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		ln:       ln,
		upstream: upstream,
		ctx:      ctx,
		cancel:   cancel,
		changed:  make(chan struct{}),
		conns:    make(map[*conn]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr returns the address clients connect to, as host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Blackhole starts (on) or ends (off) a partition. While it lasts, no byte and no close passes in
// either direction on any connection, live or new, and neither end is told: the proxy holds what it
// has read, then stops reading, so the senders' socket buffers fill as they would behind a router that
// drops every packet. New connections are accepted (their handshake goes unanswered). Ending it
// forwards what was held and resumes, as TCP does when a partition heals before it gives up.
func (p *Proxy) Blackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blackhole = on
	p.notifyLocked()
}

// BlackholeReplies starts (on) or ends (off) a one-way black hole: the client's bytes reach the
// server, but nothing comes back, on live and new connections. A request is carried out and its answer
// lost, as when a partition begins in the middle of a round trip. Ending it forwards what was held.
func (p *Proxy) BlackholeReplies(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.replies = on
	p.notifyLocked()
}

// BlackholeLive makes the connections open now silent for good, in both directions, without telling
// either end (a NAT or load balancer that lost its state for old flows); connections made later are
// not affected. It returns how many connections it silenced. They stay open until CutAll or Close.
func (p *Proxy) BlackholeLive() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.frozen = true
	}
	return len(p.conns)
}

// CutAll resets every live connection (both ends see a connection reset) and returns how many it cut.
// New connections are accepted as before.
func (p *Proxy) CutAll() int {
	p.mu.Lock()
	live := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		live = append(live, c)
	}
	p.mu.Unlock()
	for _, c := range live {
		p.teardown(c, true)
	}
	return len(live)
}

// Conns returns how many proxied connections are open.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops accepting, closes every connection, and returns once every goroutine of the proxy has
// stopped. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.notifyLocked()
	live := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		live = append(live, c)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.cancel()
	for _, c := range live {
		p.teardown(c, false)
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if p.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // out of file descriptors, say: try again
			continue
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

// serve connects client upstream and pumps bytes both ways until either side ends.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	d := net.Dialer{Timeout: dialTimeout}
	server, err := d.DialContext(p.ctx, "tcp", p.upstream)
	if err != nil {
		client.Close()
		return
	}
	c := &conn{client: client, server: server}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.pump(c, client, server, false)
	}()
	p.pump(c, server, client, true)
}

// pump copies src to dst, holding bytes (and the close) while the connection is black-holed. reply
// says that src is the server.
func (p *Proxy) pump(c *conn, src, dst net.Conn, reply bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.await(c, reply) {
				break
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			p.await(c, reply) // a black hole swallows the close too
			break
		}
	}
	p.teardown(c, false)
}

// await blocks while c may not forward (the server's bytes when reply is set, else the client's), and
// reports whether it may (false: c is torn down).
func (p *Proxy) await(c *conn, reply bool) bool {
	for {
		p.mu.Lock()
		if c.dead || p.closed {
			p.mu.Unlock()
			return false
		}
		if !p.blackhole && !c.frozen && !(reply && p.replies) {
			p.mu.Unlock()
			return true
		}
		changed := p.changed
		p.mu.Unlock()
		<-changed
	}
}

// teardown closes both sides of c once (with a reset when asked) and wakes its held pumps.
func (p *Proxy) teardown(c *conn, reset bool) {
	p.mu.Lock()
	if c.dead {
		p.mu.Unlock()
		return
	}
	c.dead = true
	delete(p.conns, c)
	p.notifyLocked()
	p.mu.Unlock()
	if reset {
		for _, nc := range []net.Conn{c.client, c.server} {
			if tc, ok := nc.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
		}
	}
	c.client.Close()
	c.server.Close()
}
