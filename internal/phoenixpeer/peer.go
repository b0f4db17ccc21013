// Package phoenixpeer drives the real Phoenix node of ../shared/interop (phoenix_pubsub_redis 3.1.0 and
// Phoenix.Presence, built by its build.sh) for the live tests of phoenixadapter and phoenixpresence: it
// starts the peer on a Redis of the test's, sends it JSON-line commands and waits for its events. It is
// test support, imported only by _test files.
package phoenixpeer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Script returns the real Phoenix node's run script (../shared/interop: phoenix_pubsub_redis 3.1.0, built
// by build.sh), which PHOENIX_PEER names. Without it the test skips, unless PHOENIX_PEER_REQUIRED=1 (CI),
// which fails it instead.
func Script(t testing.TB) string {
	t.Helper()
	p := os.Getenv("PHOENIX_PEER")
	if p == "" {
		if os.Getenv("PHOENIX_PEER_REQUIRED") == "1" {
			t.Fatal("PHOENIX_PEER is not set but PHOENIX_PEER_REQUIRED=1: the tests against the real Phoenix node must run")
		}
		t.Skip("set PHOENIX_PEER=$(bash ../shared/interop/build.sh | sed -n 's/^phoenix-peer ready: //p') to run the tests against a real Phoenix node")
	}
	return p
}

var (
	liveRedisOnce sync.Once
	liveRedisURL  string
	liveRedisErr  error
	liveRedisCmd  *exec.Cmd
)

// Redis returns the URL of a real Redis the peer can reach: PHXGO_REDIS_URL, or a redis-server started
// once for the test binary from PHXGO_REDIS_SERVER (stopped by StopRedis, which TestMain's cleanup calls).
// Each test uses a PubSub name (so a channel) of its own.
func Redis(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("PHXGO_REDIS_URL"); u != "" {
		return u
	}
	bin := os.Getenv("PHXGO_REDIS_SERVER")
	if bin == "" {
		t.Fatal("the tests against the real Phoenix node need a real Redis: set PHXGO_REDIS_URL or PHXGO_REDIS_SERVER")
	}
	liveRedisOnce.Do(func() { liveRedisURL, liveRedisErr = startRedisServer(bin) })
	if liveRedisErr != nil {
		t.Fatal(liveRedisErr)
	}
	return liveRedisURL
}

// startRedisServer starts bin on a free loopback port and waits until it accepts connections.
func startRedisServer(bin string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return "", err
	}
	liveRedisCmd = cmd
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "redis://" + addr, nil
		}
	}
	return "", fmt.Errorf("redis-server on %s did not start", addr)
}

// StopRedis stops the redis-server Redis started, if any.
func StopRedis() {
	if liveRedisCmd != nil {
		liveRedisCmd.Process.Kill()
		liveRedisCmd.Wait()
	}
}

// Peer is a running phoenix-peer.
type Peer struct {
	Node   string              // its Elixir node name
	PubSub string              // its PubSub's name, unique per test
	Events chan map[string]any // the events the peer printed that are not replies

	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex
	nextID  int
	replies map[int]chan map[string]any
	exited  chan struct{}
}

// UniqueName is prefix followed by 8 random hex digits.
func UniqueName(prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Start starts a peer for the test on a PubSub of its own (PubSubName for the Go side), with env added
// (PHX_COMPRESSION=6, say), waits for its ready event, and stops it when the test ends.
func Start(t testing.TB, pubsubName string, env ...string) *Peer {
	t.Helper()
	script := Script(t)
	url := Redis(t)
	p := &Peer{t: t, Node: UniqueName("elixir") + "@127.0.0.1", PubSub: pubsubName,
		Events: make(chan map[string]any, 1024), replies: map[int]chan map[string]any{}, exited: make(chan struct{})}
	p.cmd = exec.Command(script)
	p.cmd.Env = append(os.Environ(), append([]string{"REDIS_URL=" + url, "PHX_NODE=" + p.Node, "PHX_PUBSUB=" + pubsubName, "PHX_LOG_LEVEL=warning"}, env...)...)
	p.cmd.Stderr = &testLog{t: t}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(stdout)
	t.Cleanup(p.Stop)
	ev := p.Await(30*time.Second, func(e map[string]any) bool { return e["event"] == "ready" })
	if ev["channel"] != "phx:Elixir."+pubsubName+".Adapter" {
		t.Fatalf("the peer's channel is %v", ev["channel"])
	}
	return p
}

type testLog struct {
	t  testing.TB
	mu sync.Mutex
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Logf("peer: %s", bytes.TrimRight(b, "\n"))
	return len(b), nil
}

func (p *Peer) read(r io.Reader) {
	defer close(p.exited)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.UseNumber()
			var ev map[string]any
			if dec.Decode(&ev) == nil {
				p.route(ev)
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Peer) route(ev map[string]any) {
	if ev["event"] == "reply" || (ev["event"] == "error" && ev["id"] != nil) {
		if id, err := ev["id"].(json.Number).Int64(); err == nil {
			p.mu.Lock()
			ch := p.replies[int(id)]
			p.mu.Unlock()
			if ch != nil {
				ch <- ev
				return
			}
		}
	}
	select {
	case p.Events <- ev:
	default: // nobody is reading events this far behind: the test has failed already
	}
}

// Do sends a command and returns its reply, failing the test on an error event.
func (p *Peer) Do(cmd map[string]any) map[string]any {
	p.t.Helper()
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	ch := make(chan map[string]any, 1)
	p.replies[id] = ch
	p.mu.Unlock()
	cmd["id"] = id
	b, _ := json.Marshal(cmd)
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		p.t.Fatalf("peer %v: %v", cmd["cmd"], err)
	}
	select {
	case r := <-ch:
		if r["event"] != "reply" {
			p.t.Fatalf("peer %v: %v", cmd["cmd"], r)
		}
		return r
	case <-time.After(30 * time.Second):
		p.t.Fatalf("peer %v: no reply in 30 s", cmd["cmd"])
	case <-p.exited:
		p.t.Fatalf("peer %v: the peer exited", cmd["cmd"])
	}
	return nil
}

// Await returns the first event for which match is true, skipping the others, or fails the test.
func (p *Peer) Await(d time.Duration, match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-p.Events:
			if match(ev) {
				return ev
			}
		case <-timeout:
			p.t.Fatalf("the peer sent no matching event within %v", d)
		case <-p.exited:
			p.t.Fatal("the peer exited")
		}
	}
}

// Message waits for a message event on topic.
func (p *Peer) Message(topic string) map[string]any {
	p.t.Helper()
	return p.Await(10*time.Second, func(e map[string]any) bool { return e["event"] == "message" && e["topic"] == topic })
}

// None checks that no event on topic of kind event arrives within d.
func (p *Peer) None(event, topic string, d time.Duration) {
	p.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-p.Events:
			if ev["event"] == event && ev["topic"] == topic {
				p.t.Fatalf("unexpected %s event: %v", event, ev)
			}
		case <-timeout:
			return
		}
	}
}

// Stop closes the peer's stdin, which stops it, and waits for it (killing it after 10 s).
func (p *Peer) Stop() {
	p.stdin.Close() // the peer stops when stdin closes
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd.Wait()
}

// JSONOf is v as the peer prints payloads, for comparisons.
func JSONOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.Decode(&x)
	b, _ = json.Marshal(x)
	return string(b)
}

// Ctx is a context for one live step: 10 s, cancelled when the test ends.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
