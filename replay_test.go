package pubsub_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/wire"
)

// Attacks on the envelope, one test each, as docs/protocol.md's table lists them. A sender's frames are
// captured by a tap adapter and handed, doctored or replayed, to a receiver's Host: what a raw Redis
// client publishing onto our channels can do (redisadapter's attack tests do it over Redis).

// tap is an adapter that keeps the frames it is asked to send and delivers nothing.
type tap struct {
	name string
	mu   sync.Mutex
	sent []string
	host pubsub.Host
}

func (a *tap) Start(_ context.Context, h pubsub.Host) error { a.host = h; return nil }
func (a *tap) NodeName() string                             { return a.name }
func (a *tap) Close() error                                 { return nil }
func (a *tap) Broadcast(_ context.Context, f pubsub.Frame) error {
	a.mu.Lock()
	a.sent = append(a.sent, string(f.Bytes))
	a.mu.Unlock()
	return nil
}
func (a *tap) DirectBroadcast(ctx context.Context, _ string, f pubsub.Frame) error {
	return a.Broadcast(ctx, f)
}

// last returns the frame sent last.
func (a *tap) last(t testing.TB) string {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.sent) == 0 {
		t.Fatal("nothing sent")
	}
	return a.sent[len(a.sent)-1]
}

// node starts a PubSub named name on a tap adapter for node nodeName.
func node(t testing.TB, name, nodeName string, secrets ...[]byte) (*pubsub.PubSub, *tap) {
	a := &tap{name: nodeName}
	return newPS(t, pubsub.Config{Name: name, Adapter: a, Secrets: secrets}), a
}

// send broadcasts payload on topic from ps and returns the frame it sent.
func send(t testing.TB, ps *pubsub.PubSub, a *tap, topic string, payload any) string {
	t.Helper()
	if err := ps.Broadcast(context.Background(), topic, payload); err != nil {
		t.Fatal(err)
	}
	return a.last(t)
}

// expect fails unless the next messages of s are want, and nothing else is queued.
func expect(t testing.TB, s *pubsub.Subscriber, want ...any) {
	t.Helper()
	for _, w := range want {
		if got := receive(t, s).Payload; got != w {
			t.Fatalf("received %v, want %v", got, w)
		}
	}
	assertEmpty(t, s)
}

var (
	secret  = []byte("0123456789abcdef0123456789abcdef")
	secret2 = []byte("fedcba9876543210fedcba9876543210")
)

// A frame numbered 2^64−1 in a live node's stream (forged, unsigned) does not silence that node: its
// next genuine frame restarts the stream, and every later one is delivered.
func TestForgedSequenceCannotSilenceANode(t *testing.T) {
	b, bt := node(t, "ps", "b")
	a, at := node(t, "ps", "a")
	s := subscribe(t, a, "t")
	if err := at.host.HandleFrame(send(t, b, bt, "t", "1")); err != nil {
		t.Fatal(err)
	}
	forged := []byte(send(t, b, bt, "t", "forged"))
	wire.StampSeq(forged, math.MaxUint64)
	if err := at.host.HandleFrame(string(forged)); err != nil {
		t.Fatalf("forged frame: %v", err) // unsigned: nobody can tell it from a genuine one
	}
	for _, p := range []string{"2", "3", "4"} {
		if err := at.host.HandleFrame(send(t, b, bt, "t", p)); err != nil {
			t.Fatalf("genuine frame %s after the forged one: %v", p, err)
		}
	}
	expect(t, s, "1", "forged", "2", "3", "4")
	if st := a.Stats(); st.Rebased != 1 {
		t.Errorf("stats %+v, want one rebase", st)
	}
}

// With a secret, nothing forged is delivered, and the forger cannot touch the stream.
func TestForgedSequenceSigned(t *testing.T) {
	b, bt := node(t, "ps", "b", secret)
	a, at := node(t, "ps", "a", secret)
	s := subscribe(t, a, "t")
	at.host.HandleFrame(send(t, b, bt, "t", "1"))
	forged := []byte(send(t, b, bt, "t", "forged"))
	wire.StampSeq(forged, math.MaxUint64)
	if err := at.host.HandleFrame(string(forged)); !errors.Is(err, pubsub.ErrBadFrame) {
		t.Fatalf("forged frame: %v, want ErrBadFrame", err)
	}
	at.host.HandleFrame(send(t, b, bt, "t", "2"))
	expect(t, s, "1", "2")
	if st := a.Stats(); st.DroppedSignature != 1 {
		t.Errorf("stats %+v, want the forged frame dropped for its signature", st)
	}
}

// A captured frame is never delivered twice: a replay inside the window is a duplicate.
func TestReplayIsDuplicate(t *testing.T) {
	for _, secrets := range [][][]byte{nil, {secret}} {
		b, bt := node(t, "ps", "b", secrets...)
		a, at := node(t, "ps", "a", secrets...)
		s := subscribe(t, a, "t")
		f := send(t, b, bt, "t", "once")
		for range 3 {
			at.host.HandleFrame(f)
		}
		expect(t, s, "once")
		if st := a.Stats(); st.DroppedDuplicate != 2 {
			t.Errorf("signed %v: stats %+v, want 2 duplicates", secrets != nil, st)
		}
	}
}

// Two PubSubs that share a secret cannot replay each other's frames: the MAC binds the PubSub's name.
func TestReplayAcrossPubSubs(t *testing.T) {
	b, bt := node(t, "billing", "b", secret)
	a, at := node(t, "chat", "a", secret)
	s := subscribe(t, a, "t")
	if err := at.host.HandleFrame(send(t, b, bt, "t", "x")); !errors.Is(err, pubsub.ErrBadFrame) {
		t.Fatalf("frame of another PubSub: %v, want ErrBadFrame", err)
	}
	assertEmpty(t, s)
	if st := a.Stats(); st.DroppedSignature != 1 {
		t.Errorf("stats %+v, want a signature drop", st)
	}
}

// A receiver that restarted is not owed what was sent before it started: a capture replayed to it is
// stale (beyond Config.ClockSkew).
func TestReplayAfterReceiverRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, bt := node(t, "ps", "b", secret)
		a, at := node(t, "ps", "a", secret)
		subscribe(t, a, "t")
		f := send(t, b, bt, "t", "before")
		at.host.HandleFrame(f)
		a.Close()

		time.Sleep(pubsub.DefaultClockSkew + time.Second)
		a2, at2 := node(t, "ps", "a", secret)
		s := subscribe(t, a2, "t")
		if err := at2.host.HandleFrame(f); !errors.Is(err, pubsub.ErrBadFrame) {
			t.Fatalf("capture replayed after restart: %v, want ErrBadFrame", err)
		}
		assertEmpty(t, s)
		if st := a2.Stats(); st.DroppedStale != 1 {
			t.Errorf("stats %+v, want a stale drop", st)
		}
		// b's new frames are welcome.
		at2.host.HandleFrame(send(t, b, bt, "t", "after"))
		expect(t, s, "after")
	})
}

// A receiver forgets a silent sender after 10 minutes; a capture of that sender replayed later is too
// old to be accepted, so forgetting never reopens the stream to replays.
func TestReplayAfterForgetting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, bt := node(t, "ps", "b", secret)
		a, at := node(t, "ps", "a", secret)
		s := subscribe(t, a, "t")
		f := send(t, b, bt, "t", "x")
		at.host.HandleFrame(f)
		expect(t, s, "x")
		time.Sleep(11 * time.Minute) // the sweeper forgets b's stream
		if err := at.host.HandleFrame(f); !errors.Is(err, pubsub.ErrBadFrame) {
			t.Fatalf("capture replayed after the sender was forgotten: %v", err)
		}
		assertEmpty(t, s)
		if st := a.Stats(); st.DroppedStale != 1 {
			t.Errorf("stats %+v, want a stale drop", st)
		}
		// A sender silent that long and speaking again is welcome: a new baseline.
		at.host.HandleFrame(send(t, b, bt, "t", "back"))
		expect(t, s, "back")
	})
}

// Without a secret, time is not checked (nodes' clocks need not agree): the same late capture of a
// forgotten stream is accepted, as any frame a Redis client forges would be.
func TestUnsignedDoesNotCheckTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, bt := node(t, "ps", "b")
		a, at := node(t, "ps", "a")
		s := subscribe(t, a, "t")
		f := send(t, b, bt, "t", "x")
		time.Sleep(11 * time.Minute)
		if err := at.host.HandleFrame(f); err != nil {
			t.Fatal(err)
		}
		expect(t, s, "x")
	})
}

// Key rotation: add the new secret second everywhere, then first, then drop the old one. Every step
// keeps every pair of nodes talking.
func TestKeyRotation(t *testing.T) {
	steps := [][][]byte{
		{secret},          // everyone on the old key
		{secret, secret2}, // the new key accepted
		{secret2, secret}, // the new key signs
		{secret2},         // the old key gone
	}
	for i := range len(steps) - 1 {
		for _, pair := range [][2][][]byte{{steps[i], steps[i+1]}, {steps[i+1], steps[i]}} {
			b, bt := node(t, "ps", "b", pair[0]...)
			a, at := node(t, "ps", "a", pair[1]...)
			s := subscribe(t, a, "t")
			if err := at.host.HandleFrame(send(t, b, bt, "t", "x")); err != nil {
				t.Fatalf("step %d, sender %d keys, receiver %d keys: %v", i, len(pair[0]), len(pair[1]), err)
			}
			expect(t, s, "x")
		}
	}
	// And a node that never had the new key drops what it signs.
	b, bt := node(t, "ps", "b", secret2)
	a, at := node(t, "ps", "a", secret)
	if err := at.host.HandleFrame(send(t, b, bt, "t", "x")); !errors.Is(err, pubsub.ErrBadFrame) || a.Stats().DroppedSignature != 1 {
		t.Fatalf("frame signed with a key the receiver lacks: %v, stats %+v", err, a.Stats())
	}
}

// Frames that overtake each other (concurrent broadcasters) are each delivered once and not reported
// as lost.
func TestReorderedFramesAreDeliveredOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, bt := node(t, "ps", "b")
		a, at := node(t, "ps", "a")
		s := subscribe(t, a, "t", pubsub.GapTopic)
		f1, f2, f3 := send(t, b, bt, "t", "1"), send(t, b, bt, "t", "2"), send(t, b, bt, "t", "3")
		for _, f := range []string{f1, f3, f2, f3} {
			at.host.HandleFrame(f)
		}
		time.Sleep(time.Second)
		expect(t, s, "1", "3", "2")
		if st := a.Stats(); st.Reordered != 1 || st.DroppedDuplicate != 1 || st.Gaps != 0 {
			t.Errorf("stats %+v, want one reordered, one duplicate, no gap", st)
		}
	})
}

// A frame that never arrives is reported once, as a Gap on GapTopic, after the reorder grace; a late
// arrival afterwards is still delivered and not reported again.
func TestLossIsReportedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, bt := node(t, "ps", "b")
		a, at := node(t, "ps", "a")
		s := subscribe(t, a, "t", pubsub.GapTopic)
		f1, f2, f3 := send(t, b, bt, "t", "1"), send(t, b, bt, "t", "2"), send(t, b, bt, "t", "3")
		at.host.HandleFrame(f1)
		at.host.HandleFrame(f3)
		expect(t, s, "1", "3")
		time.Sleep(300 * time.Millisecond)
		assertEmpty(t, s) // within the grace: maybe reordered
		time.Sleep(time.Second)
		gap, ok := receive(t, s).Payload.(pubsub.Gap)
		if !ok || gap.Node != "a" || gap.Reason == nil {
			t.Fatalf("want a Gap, got %#v", gap)
		}
		at.host.HandleFrame(f2)
		time.Sleep(time.Second)
		expect(t, s, "2")
		if st := a.Stats(); st.Gaps != 1 || st.GapsReported != 1 || st.Reordered != 1 {
			t.Errorf("stats %+v, want one gap, reported once, and the late frame delivered", st)
		}
	})
}

// The gap topic is reserved: no broadcast function accepts it, and a frame on it from the network is
// dropped, so every message on it carries a Gap.
func TestGapTopicIsReserved(t *testing.T) {
	b, bt := node(t, "ps", "b")
	a, at := node(t, "ps", "a")
	s := subscribe(t, b, pubsub.GapTopic)
	from := newSub(t, b)
	bg := context.Background()
	for name, call := range map[string]func() error{
		"Broadcast":          func() error { return b.Broadcast(bg, pubsub.GapTopic, "x") },
		"BroadcastFrom":      func() error { return b.BroadcastFrom(bg, from, pubsub.GapTopic, "x") },
		"LocalBroadcast":     func() error { return b.LocalBroadcast(pubsub.GapTopic, "x") },
		"LocalBroadcastFrom": func() error { return b.LocalBroadcastFrom(from, pubsub.GapTopic, "x") },
		"DirectBroadcast":    func() error { return b.DirectBroadcast(bg, "a", pubsub.GapTopic, "x") },
		"DirectBroadcast to self": func() error {
			return b.DirectBroadcast(bg, "b", pubsub.GapTopic, "x")
		},
	} {
		if err := call(); !errors.Is(err, pubsub.ErrReservedTopic) {
			t.Errorf("%s on the gap topic: %v, want ErrReservedTopic", name, err)
		}
	}
	assertEmpty(t, s)
	bt.mu.Lock()
	sent := len(bt.sent)
	bt.mu.Unlock()
	if sent != 0 {
		t.Errorf("%d frames sent on the gap topic", sent)
	}
	// A frame on it from another node (built as a hostile client would) is dropped.
	spoof, err := wire.Append(nil, &wire.Envelope{Kind: wire.KindBroadcast, Origin: "mallory", Incarnation: [16]byte{1},
		Seq: 1, Topic: pubsub.GapTopic, PayloadType: wire.TypeString, Payload: []byte("x")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sa := subscribe(t, a, pubsub.GapTopic)
	if err := at.host.HandleFrame(string(spoof)); !errors.Is(err, pubsub.ErrBadFrame) {
		t.Fatalf("spoofed gap: %v", err)
	}
	assertEmpty(t, sa)
	if st := a.Stats(); st.DroppedReserved != 1 {
		t.Errorf("stats %+v", st)
	}
}

// Truncated and mutated captures are dropped and counted; none is delivered.
func TestMutatedCaptures(t *testing.T) {
	for _, secrets := range [][][]byte{nil, {secret}} {
		b, bt := node(t, "ps", "b", secrets...)
		a, at := node(t, "ps", "a", secrets...)
		s := subscribe(t, a, "t")
		f := send(t, b, bt, "t", "payload")
		accepted := 0
		for i := range len(f) {
			if err := at.host.HandleFrame(f[:i]); err == nil {
				t.Fatalf("signed %v: truncation to %d bytes accepted", secrets != nil, i)
			}
			m := []byte(f)
			m[i] ^= 0x40
			if at.host.HandleFrame(string(m)) == nil {
				accepted++
			}
		}
		if secrets == nil {
			// Unsigned, a flipped byte of a name, number or payload is just another valid message: what
			// signing is for. Drain what was delivered.
			for _, ok := s.TryReceive(); ok; _, ok = s.TryReceive() {
			}
			continue
		}
		assertEmpty(t, s)
		if st := a.Stats(); accepted != 0 || st.Dropped() != uint64(2*len(f)) {
			t.Errorf("signed: %d mutated frames accepted, %d dropped, want all %d: %+v", accepted, st.Dropped(), 2*len(f), st)
		}
	}
}
