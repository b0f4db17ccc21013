package redisadapter_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  redisadapter.Config
		want string
	}{
		{redisadapter.Config{}, "give Client or URL"},
		{redisadapter.Config{URL: "http://x"}, "URL"},
		{redisadapter.Config{URL: "redis://x", NodeName: strings.Repeat("n", 256)}, "NodeName"},
		{redisadapter.Config{URL: "redis://x", MaxMessageSize: -1}, "MaxMessageSize"},
		{redisadapter.Config{URL: "redis://x", ProbeInterval: time.Millisecond}, "ProbeInterval"},
		{redisadapter.Config{URL: "redis://x", MaxBatch: -1}, "MaxBatch"},
	} {
		a, err := redisadapter.New(tc.cfg)
		if err == nil {
			a.Close()
			t.Errorf("%+v: no error", tc.cfg)
			continue
		}
		if !errors.Is(err, pubsub.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want ErrInvalidConfig mentioning %q", err, tc.want)
		}
	}
}

func TestStartFailsClearlyWhenRedisIsUnreachable(t *testing.T) {
	a, err := redisadapter.New(redisadapter.Config{URL: "redis://127.0.0.1:1/0"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pubsub.New(context.Background(), pubsub.Config{Name: "x", Adapter: a})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("err = %v, want one naming the address", err)
	}
}

func TestBroadcastCrossesNodes(t *testing.T) {
	_, url := miniURL(t)
	name := uniqueName(t)
	a, aa := startNode(t, name, redisadapter.Config{URL: url, NodeName: "a"}, pubsub.Config{})
	b, ab := startNode(t, name, redisadapter.Config{URL: url, NodeName: "b"}, pubsub.Config{})
	sa, sb := newSub(t, a), newSub(t, b)
	sa.Subscribe("t")
	sb.Subscribe("t")
	if err := a.Broadcast(ctx, "t", "hello"); err != nil {
		t.Fatal(err)
	}
	if receive(t, sa).Payload != "hello" || receive(t, sb).Payload != "hello" {
		t.Fatal("wrong payload")
	}
	if err := a.DirectBroadcast(ctx, "b", "t", "direct"); err != nil {
		t.Fatal(err)
	}
	if receive(t, sb).Payload != "direct" {
		t.Fatal("direct broadcast missed")
	}
	assertQuiet(t, sa, 50*time.Millisecond)
	if s := aa.Stats(); s.Published < 2 {
		t.Errorf("a published %d", s.Published)
	}
	// The counter moves once the frame is delivered, a moment after the subscriber could read it.
	eventually(t, time.Second, "b to count 2 received, none dropped", func() bool {
		s := ab.Stats()
		return s.Received == 2 && s.Dropped() == 0
	})
}

// Two PubSub names on one Redis never see each other's traffic.
func TestNamesDoNotCrosstalk(t *testing.T) {
	_, url := miniURL(t)
	a, _ := startNode(t, "app1", redisadapter.Config{URL: url, NodeName: "a"}, pubsub.Config{})
	b, ab := startNode(t, "app2", redisadapter.Config{URL: url, NodeName: "b"}, pubsub.Config{})
	sb := newSub(t, b)
	sb.Subscribe("t")
	a.Broadcast(ctx, "t", 1)
	a.DirectBroadcast(ctx, "b", "t", 2)
	assertQuiet(t, sb, 100*time.Millisecond)
	if s := ab.Stats(); s.Received != 0 || s.Dropped() != 0 {
		t.Fatalf("app2 saw traffic: %+v", s)
	}
}

// Garbage published straight onto our channels by a plain client is dropped and counted; the node keeps
// working.
func TestGarbageIsDroppedAndCounted(t *testing.T) {
	_, url := miniURL(t)
	name := uniqueName(t)
	ps, a := startNode(t, name, redisadapter.Config{URL: url, NodeName: "a", MaxMessageSize: 4096}, pubsub.Config{})
	other, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "b"}, pubsub.Config{})
	s := newSub(t, ps)
	s.Subscribe("t")
	rdb := plainClient(t, url)
	for _, ch := range []string{"phx:{" + name + "}:broadcast", "phx:{" + name + "}:node:a"} {
		for _, junk := range []string{"", "hello", "PX\x09", "PX\x01\x01\x00" + strings.Repeat("\x00", 30), strings.Repeat("x", 5000),
			"\xdd\xff\xff\xff\xff"} {
			if err := rdb.Publish(ctx, ch, junk).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	other.Broadcast(ctx, "t", "still works")
	if receive(t, s).Payload != "still works" {
		t.Fatal("wrong payload")
	}
	eventually(t, time.Second, "12 drops counted", func() bool {
		return a.Stats().DroppedTooLarge+ps.Stats().Dropped() == 12
	})
	if st, ast := ps.Stats(), a.Stats(); ast.DroppedTooLarge != 2 || st.DroppedVersion != 4 || st.DroppedMalformed != 6 || ast.Rejected != 10 {
		t.Fatalf("stats = %+v, adapter's %+v; want 2 too large (adapter), 4 wrong version, 6 malformed", st, ast)
	}
}

// A node with a Secret drops unsigned frames and frames signed with another secret.
func TestSecretRejectsForeignFrames(t *testing.T) {
	_, url := miniURL(t)
	name := uniqueName(t)
	secret := [][]byte{[]byte("0123456789abcdef-s3cret")}
	ps, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "a"}, pubsub.Config{Secrets: secret})
	unsigned, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "b"}, pubsub.Config{})
	wrong, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "c"}, pubsub.Config{Secrets: [][]byte{[]byte("0123456789abcdef-other")}})
	good, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "d"}, pubsub.Config{Secrets: secret})
	s := newSub(t, ps)
	s.Subscribe("t")
	unsigned.Broadcast(ctx, "t", "unsigned")
	wrong.Broadcast(ctx, "t", "wrong")
	good.Broadcast(ctx, "t", "good")
	if got := receive(t, s).Payload; got != "good" {
		t.Fatalf("received %v", got)
	}
	eventually(t, time.Second, "two signature drops", func() bool { return ps.Stats().DroppedSignature == 2 })
}

// A second live node with the same name is reported, and broadcasts still flow.
func TestDuplicateNodeNameIsReported(t *testing.T) {
	_, url := miniURL(t)
	name := uniqueName(t)
	cfg := redisadapter.Config{URL: url, NodeName: "same", ProbeInterval: 20 * time.Millisecond}
	p1, a1 := startNode(t, name, cfg, pubsub.Config{})
	p2, a2 := startNode(t, name, cfg, pubsub.Config{})
	eventually(t, 2*time.Second, "both nodes to notice", func() bool {
		return a1.Stats().DuplicateNodes > 0 && a2.Stats().DuplicateNodes > 0
	})
	s := newSub(t, p2)
	s.Subscribe("t")
	p1.Broadcast(ctx, "t", "x")
	if receive(t, s).Payload != "x" {
		t.Fatal("delivery broken by the duplicate name")
	}
}

// When Redis goes away and comes back, the node resubscribes, reports the gap on pubsub.GapTopic, and
// delivery resumes.
func TestReconnectReportsGapAndResumes(t *testing.T) {
	m, url := miniURL(t)
	name := uniqueName(t)
	cfg := func(node string) redisadapter.Config {
		return redisadapter.Config{URL: url, NodeName: node, ProbeInterval: 50 * time.Millisecond}
	}
	a, _ := startNode(t, name, cfg("a"), pubsub.Config{})
	b, ab := startNode(t, name, cfg("b"), pubsub.Config{})
	gaps := newSub(t, b)
	gaps.Subscribe(pubsub.GapTopic)
	s := newSub(t, b)
	s.Subscribe("t")

	m.Close()
	time.Sleep(100 * time.Millisecond)
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	gap := receive(t, gaps)
	if g, ok := gap.Payload.(pubsub.Gap); !ok || g.Node != "b" || g.Reason == nil {
		t.Fatalf("gap = %#v", gap.Payload)
	}
	if ab.Stats().Reconnects == 0 {
		t.Fatal("no reconnect counted")
	}
	eventually(t, 3*time.Second, "delivery to resume", func() bool {
		a.Broadcast(ctx, "t", "after")
		select {
		case msg := <-s.C():
			return msg.Payload == "after"
		case <-time.After(20 * time.Millisecond):
			return false
		}
	})
}

// A broadcast over MaxMessageSize fails before it is numbered, signed or not: it leaves no hole in the
// sender's stream, so no receiver reports a lost frame for it.
func TestBroadcastTooLarge(t *testing.T) {
	for _, secrets := range [][][]byte{nil, {[]byte("0123456789abcdef0123456789abcdef")}} {
		_, url := miniURL(t)
		name := uniqueName(t)
		ps, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "a", MaxMessageSize: 1024}, pubsub.Config{Secrets: secrets})
		peer, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "b", MaxMessageSize: 1024}, pubsub.Config{Secrets: secrets})
		s := newSub(t, peer)
		s.Subscribe("t")
		s.Subscribe(pubsub.GapTopic)
		if err := ps.Broadcast(ctx, "t", "before"); err != nil {
			t.Fatal(err)
		}
		err := ps.Broadcast(ctx, "t", strings.Repeat("x", 2000))
		if !errors.Is(err, redisadapter.ErrTooLarge) || !errors.Is(err, pubsub.ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
		if err := ps.Broadcast(ctx, "t", "after"); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"before", "after"} {
			if got := receive(t, s).Payload; got != want {
				t.Fatalf("received %v, want %v", got, want)
			}
		}
		assertQuiet(t, s, time.Second) // no Gap: the refused broadcast used no number
		if st := peer.Stats(); st.Gaps != 0 || st.GapsReported != 0 {
			t.Fatalf("signed %v: receiver stats %+v, want no gap", secrets != nil, st)
		}
	}
}

// An adapter serves one PubSub: a second PubSub given it fails in New with ErrAdapterInUse and leaves it
// alone, so the first keeps working (New closes the adapters it owns when it fails, not this one).
func TestSecondPubSubDoesNotCloseTheAdapter(t *testing.T) {
	_, url := miniURL(t)
	name := uniqueName(t)
	ps, a := startNode(t, name, redisadapter.Config{URL: url, NodeName: "a"}, pubsub.Config{})
	other, _ := startNode(t, name, redisadapter.Config{URL: url, NodeName: "b"}, pubsub.Config{})
	if second, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: a}); !errors.Is(err, pubsub.ErrAdapterInUse) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("second New on a used adapter: %v, want ErrAdapterInUse", err)
	}
	s := newSub(t, ps)
	s.Subscribe("t")
	if err := other.Broadcast(ctx, "t", "still works"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, s).Payload; got != "still works" {
		t.Fatalf("received %v", got)
	}
	if err := ps.Broadcast(ctx, "t", "and sends"); err != nil {
		t.Fatalf("the first PubSub lost its adapter: %v", err)
	}
}
