package faultproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/phxgo/pubsub/internal/faultproxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer echoes every line back and reports each connection's end on closed.
type echoServer struct {
	ln     net.Listener
	wg     sync.WaitGroup
	closed chan struct{} // one value per connection that saw EOF or an error

	mu    sync.Mutex
	conns []net.Conn
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, closed: make(chan struct{}, 100)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				io.Copy(c, c)
				s.closed <- struct{}{}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func startProxy(t *testing.T, upstream string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New("127.0.0.1:0", upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

type client struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, rd: bufio.NewReader(c)}
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(line + "\n")); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv reads one line within d; it returns the line, or the read error.
func (c *client) recv(d time.Duration) (string, error) {
	c.c.SetReadDeadline(time.Now().Add(d))
	line, err := c.rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	return line[:len(line)-1], nil
}

func (c *client) expect(line string) {
	c.t.Helper()
	got, err := c.recv(5 * time.Second)
	if err != nil || got != line {
		c.t.Fatalf("recv = %q, %v; want %q", got, err, line)
	}
}

func (c *client) expectSilence() {
	c.t.Helper()
	got, err := c.recv(150 * time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("recv = %q, %v; want silence (a read timeout)", got, err)
	}
}

func TestForwards(t *testing.T) {
	e := startEcho(t)
	p := startProxy(t, e.ln.Addr().String())
	c := dial(t, p.Addr())
	c.send("hello")
	c.expect("hello")
	if n := p.Conns(); n != 1 {
		t.Fatalf("Conns = %d, want 1", n)
	}
}

// A partition holds bytes in both directions, on live and new connections, and releases them in
// order when it heals.
func TestBlackholeHoldsThenReleases(t *testing.T) {
	e := startEcho(t)
	p := startProxy(t, e.ln.Addr().String())
	live := dial(t, p.Addr())
	live.send("before")
	live.expect("before")

	p.Blackhole(true)
	live.send("during-1")
	live.send("during-2")
	fresh := dial(t, p.Addr())
	fresh.send("fresh")
	live.expectSilence()
	fresh.expectSilence()

	p.Blackhole(false)
	live.expect("during-1")
	live.expect("during-2")
	fresh.expect("fresh")
}

// A black hole hides a close from the other end until it heals.
func TestBlackholeHoldsTheClose(t *testing.T) {
	e := startEcho(t)
	p := startProxy(t, e.ln.Addr().String())
	c := dial(t, p.Addr())
	c.send("x")
	c.expect("x")
	p.Blackhole(true)
	c.c.Close()
	select {
	case <-e.closed:
		t.Fatal("the server saw the close through the black hole")
	case <-time.After(150 * time.Millisecond):
	}
	p.Blackhole(false)
	select {
	case <-e.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the close never reached the server after the black hole ended")
	}
}

// BlackholeLive silences the connections open now, for good; new connections work.
func TestBlackholeLive(t *testing.T) {
	e := startEcho(t)
	p := startProxy(t, e.ln.Addr().String())
	old := dial(t, p.Addr())
	old.send("a")
	old.expect("a")
	if n := p.BlackholeLive(); n != 1 {
		t.Fatalf("BlackholeLive silenced %d connections, want 1", n)
	}
	old.send("b")
	old.expectSilence()
	fresh := dial(t, p.Addr())
	fresh.send("c")
	fresh.expect("c")
	old.expectSilence()
	if n := p.Conns(); n != 2 {
		t.Fatalf("Conns = %d, want 2 (the silenced one stays open)", n)
	}
}

// CutAll resets live connections; the proxy keeps accepting.
func TestCutAll(t *testing.T) {
	e := startEcho(t)
	p := startProxy(t, e.ln.Addr().String())
	c := dial(t, p.Addr())
	c.send("a")
	c.expect("a")
	p.BlackholeLive() // a silenced connection is cut too
	if n := p.CutAll(); n != 1 {
		t.Fatalf("CutAll cut %d, want 1", n)
	}
	if _, err := c.recv(5 * time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after CutAll: %v, want a connection error", err)
	}
	select {
	case <-e.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server side was not closed")
	}
	fresh := dial(t, p.Addr())
	fresh.send("b")
	fresh.expect("b")
}

// A client of a proxy whose upstream refuses connections sees its connection closed.
func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := startProxy(t, addr)
	c := dial(t, p.Addr())
	if _, err := c.recv(5 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("read = %v, want EOF", err)
	}
}

// Close returns promptly even with held bytes and silenced connections, and stops every goroutine
// (goleak checks, in TestMain).
func TestCloseWhileHolding(t *testing.T) {
	e := startEcho(t)
	p, err := faultproxy.New("127.0.0.1:0", e.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := dial(t, p.Addr())
	a.send("x")
	a.expect("x")
	p.BlackholeLive()
	a.send("held")
	p.Blackhole(true)
	b := dial(t, p.Addr())
	b.send("held too")
	time.Sleep(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("the proxy still accepts after Close")
	}
}

// BlackholeReplies lets requests through and holds the answers until it ends.
func TestBlackholeReplies(t *testing.T) {
	e := startEcho(t)
	p := startProxy(t, e.ln.Addr().String())
	c := dial(t, p.Addr())
	c.send("a")
	c.expect("a")
	p.BlackholeReplies(true)
	c.send("b")
	c.expectSilence()
	c.c.Close() // the close reaches the server: requests pass
	select {
	case <-e.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the client's close did not reach the server")
	}
	fresh := dial(t, p.Addr())
	fresh.send("c")
	fresh.expectSilence()
	p.BlackholeReplies(false)
	fresh.expect("c")
}
