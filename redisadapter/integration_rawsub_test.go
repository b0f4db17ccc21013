package redisadapter_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// injectingDialer dials real connections and remembers the one that subscribes, so that a test can
// slip bytes into what the adapter reads from it, as a broken or hostile server (or a proxy) could.
type injectingDialer struct {
	mu  sync.Mutex
	sub *injectingConn
}

func (d *injectingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &injectingConn{Conn: c, d: d}, nil
}

func (d *injectingDialer) subConn() *injectingConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sub
}

type injectingConn struct {
	net.Conn
	d       *injectingDialer
	mu      sync.Mutex
	pending []byte // read before anything else from the connection
}

func (c *injectingConn) Write(p []byte) (int, error) {
	if bytes.Contains(bytes.ToUpper(p), []byte("SUBSCRIBE")) {
		c.d.mu.Lock()
		c.d.sub = c
		c.d.mu.Unlock()
	}
	return c.Conn.Write(p)
}

func (c *injectingConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// inject queues b, to be read after what the connection's current read returns.
func (c *injectingConn) inject(b []byte) {
	c.mu.Lock()
	c.pending = append(c.pending, b...)
	c.mu.Unlock()
}

// What the adapter reads from its subscription is checked before anything is allocated: a frame
// declaring more than MaxMessageSize is skipped, counted and logged, and the subscription carries on;
// bytes that are not RESP end the subscription, which is replaced and reported as a gap.
func TestRawSubscriptionHostileStream(t *testing.T) {
	m, _ := miniURL(t)
	name := uniqueName(t)
	a, _ := startNode(t, name, redisadapter.Config{URL: "redis://" + m.Addr() + "/0", NodeName: "a"}, pubsub.Config{})
	d := &injectingDialer{}
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), Dialer: d.dial, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	b, ab := startNode(t, name, redisadapter.Config{Client: client, NodeName: "b", MaxMessageSize: 4096}, pubsub.Config{})
	gaps := newSub(t, b)
	gaps.Subscribe(pubsub.GapTopic)
	s := newSub(t, b)
	s.Subscribe("t")
	conn := d.subConn()
	if conn == nil {
		t.Fatal("no subscription connection seen: the raw subscription is not in use")
	}
	bcast := "phx:{" + name + "}:broadcast"

	// 64 MiB declared (and sent): skipped, never allocated.
	const huge = 64 << 20
	frame := "*3\r\n$7\r\nmessage\r\n$" + strconv.Itoa(len(bcast)) + "\r\n" + bcast + "\r\n$" + strconv.Itoa(huge) + "\r\n"
	conn.inject(append(append([]byte(frame), make([]byte, huge)...), "\r\n"...))
	if err := a.Broadcast(ctx, "t", "one"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, s).Payload; got != "one" {
		t.Fatalf("received %v", got)
	}
	if err := a.Broadcast(ctx, "t", "two"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, s).Payload; got != "two" {
		t.Fatalf("received %v", got)
	}
	eventually(t, 5*time.Second, "b to count the huge frame", func() bool { return ab.Stats().DroppedTooLarge == 1 })
	if st := ab.Stats(); st.Reconnects != 0 {
		t.Fatalf("b reconnected after a too-large frame: %+v", st)
	}

	// Not RESP: the subscription is replaced, the gap reported, delivery resumes.
	conn.inject([]byte("*3\r\n$7\r\nmessage\r\n$2\r\nbc\r\n$3\r\nabcdefgh\r\n"))
	if err := a.Broadcast(ctx, "t", "three"); err != nil {
		t.Fatal(err)
	}
	gap := receive(t, gaps)
	if g, ok := gap.Payload.(pubsub.Gap); !ok || !strings.Contains(g.Reason.Error(), "malformed") {
		t.Fatalf("gap %+v, want one for malformed RESP", gap.Payload)
	}
	eventually(t, 5*time.Second, "b to resubscribe", func() bool { return ab.Stats().Reconnects == 1 })
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := a.Broadcast(ctx, "t", "after"); err != nil {
			t.Fatal(err)
		}
		c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		msg, err := s.Receive(c)
		cancel()
		if err == nil && msg.Payload == "after" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("delivery did not resume after the resubscription")
		}
	}
}
