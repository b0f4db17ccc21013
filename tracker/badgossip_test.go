package tracker

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/phxgo/pubsub/pubsubtest"
)

// Hostile and stale gossip, published straight onto a shard's gossip topic by another node of the PubSub
// (one without a tracker, as anyone who can publish on the Redis could): every message is dropped and
// counted in Stats.DroppedGossip, or, where the gossip is legitimate but about replicas the receiver does
// not accept, ignored; in every case no node's presences, peers or diffs change, and nothing panics.

// badCase is one message, broadcast to every node or sent to one.
type badCase struct {
	name    string
	payload any
	counted bool   // counted by every tracker that receives it; otherwise ignored without a count
	to      string // "": broadcast
}

// mp encodes values as one msgpack array, for hand-made messages.
func mp(vs ...any) []byte {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(vs); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func mustGossip(g gossip) []byte {
	b, err := encodeGossip(g)
	if err != nil {
		panic(err)
	}
	return b
}

func mustDelta(d *delta) []byte {
	b, err := marshalDelta(d)
	if err != nil {
		panic(err)
	}
	return b
}

// deltaOf returns the delta of a new state of ref that tracked n presences in topic.
func deltaOf(ref replicaRef, topic string, n int, meta map[string]any) *delta {
	st := newState(ref)
	for i := range n {
		st.join(topic, "o", fmt.Sprint("evil", i), meta)
	}
	return st.takeDelta()
}

// nested returns depth nested one-element arrays around 1.
func nested(depth int) any {
	var v any = 1
	for range depth {
		v = []any{v}
	}
	return v
}

// snapshotOf is what must not change on a node: its lists, the diffs its handler got, its peers.
func snapshotOf(n *hubNode) string {
	var b strings.Builder
	for _, topic := range []string{"room", "lobby", "evil"} {
		fmt.Fprintf(&b, "%s=%v ", topic, n.list(topic))
	}
	fmt.Fprintf(&b, "events=%d ", len(n.log.events()))
	s := n.shard()
	s.mu.Lock()
	for name, p := range s.peers {
		fmt.Fprintf(&b, "peer %s=%v/%v ", name, p.ref, p.up)
	}
	fmt.Fprintf(&b, "replicas=%d", len(s.state.replicas))
	s.mu.Unlock()
	return b.String()
}

func TestBadGossipIsDroppedAndCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		a := start(t, h, "a", cfg)
		b := start(t, h, "b", cfg)
		c := start(t, h, "c", cfg)
		evil := spy(t, h, "evil")
		a.tr.Track(a.owner(), "room", "ka", map[string]any{"n": 1})
		b.tr.Track(b.owner(), "room", "kb", nil)
		c.tr.Track(c.owner(), "lobby", "kc", nil)
		sleep(ms(500))
		aref, bref, cref := a.ref(), b.ref(), c.ref()
		c.crash() // c will be permdowned on a and b
		sleep(cfg.PermdownPeriod + cfg.BroadcastPeriod)
		for _, n := range []*hubNode{a, b} {
			if known, _ := n.knows("c"); known || !n.shard().state.isPermdowned(cref) {
				t.Fatalf("c not permdowned on %s", n.name)
			}
		}
		topic := a.shard().topic
		x := replicaRef{Name: "x", Vsn: 7} // never heard of
		y := replicaRef{Name: "y", Vsn: 8}
		older := replicaRef{Name: "b", Vsn: bref.Vsn - 1}
		clocks := causalContext{aref: 1, bref: 1}

		extractFrom := func(ref replicaRef) []byte {
			st := newState(ref)
			st.join("evil", "o", "k", nil)
			body, err := marshalExtract(st.extract(aref, causalContext{aref: 0, ref: 0}))
			if err != nil {
				panic(err)
			}
			return body
		}
		bogusBomb := append([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, 1, 2, 3)  // array32 of 4 billion elements in 8 bytes
		binBomb := mp(gossipVersion, int(gossipHeartbeat), "x", 7, []any{}) // five fields and a body of 2 GB in 5 bytes
		binBomb[0] = 0x96
		binBomb = append(binBomb, 0xc6, 0x7f, 0xff, 0xff, 0xff)
		deep := mp(gossipVersion, int(gossipHeartbeat), "x", 7, nested(200), nil)
		deepMeta := mustDelta(deltaOf(x, "evil", 1, map[string]any{"m": nested(40)}))

		cases := []badCase{
			// Not gossip at all.
			{"string payload", "hello", true, ""},
			{"map payload", map[string]any{"kind": 1}, true, ""},
			{"nil payload", nil, true, ""},
			{"empty bytes", []byte{}, true, ""},
			{"garbage bytes", []byte("\x93\xc1garbage"), true, ""},
			{"truncated gossip", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 1}})[:9], true, ""},
			{"trailing bytes", append(mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 1}}), 0), true, ""},
			{"wrong shape", mp(1, 2, 3), true, ""},
			{"unknown version", mp(2, int(gossipHeartbeat), "x", 7, []any{}, nil), true, ""},
			{"unknown kind", mp(gossipVersion, 9, "x", 7, []any{}, nil), true, ""},
			{"empty sender", mp(gossipVersion, int(gossipHeartbeat), "", 7, []any{}, nil), true, ""},
			{"zero vsn", mp(gossipVersion, int(gossipHeartbeat), "x", 0, []any{}, nil), true, ""},
			{"odd clocks", mp(gossipVersion, int(gossipHeartbeat), "x", 7, []any{"a", 1}, nil), true, ""},
			{"clock twice", mp(gossipVersion, int(gossipHeartbeat), "x", 7, []any{"x", 7, 1, "x", 7, 2}, nil), true, ""},
			{"transfer request with a body", mp(gossipVersion, int(gossipTransferReq), "x", 7, []any{}, []byte{0x90}), true, ""},
			{"transfer without a body", mp(gossipVersion, int(gossipTransferDelta), "x", 7, []any{}, nil), true, ""},
			// Oversized and deeply nested.
			{"count bomb", bogusBomb, true, ""},
			{"bin length bomb", binBomb, true, ""},
			{"deeply nested gossip", deep, true, ""},
			{"deeply nested meta", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 1}, body: deepMeta}), true, ""},
			{"body count bomb", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 1}, body: append([]byte{0x98, 1, 1, 0xdd, 0xff, 0xff, 0xff, 0xff}, 0, 0, 0)}), true, ""},
			{"body garbage", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 1}, body: []byte("nonsense")}), true, ""},
			{"extract as a heartbeat's delta", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 1}, body: extractFrom(x)}), true, ""},
			// Unknown replicas.
			{"heartbeat of x carrying y's values", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 1}, body: mustDelta(deltaOf(y, "evil", 3, nil))}), true, ""},
			{"heartbeat of b carrying y's values", mustGossip(gossip{kind: gossipHeartbeat, from: bref, clocks: clocks, body: mustDelta(deltaOf(y, "evil", 3, nil))}), true, ""},
			{"transfer delta from an unknown replica", mustGossip(gossip{kind: gossipTransferDelta, from: x, body: mustDelta(deltaOf(x, "evil", 3, nil))}), true, ""},
			{"transfer extract from an unknown replica", mustGossip(gossip{kind: gossipTransferExtract, from: x, body: extractFrom(x)}), true, ""},
			{"graceful permdown of an unknown replica", mustGossip(gossip{kind: gossipPermdown, from: x}), false, ""},
			// Stale and permdowned replicas.
			{"heartbeat of a permdowned replica", mustGossip(gossip{kind: gossipHeartbeat, from: cref, clocks: causalContext{cref: 5}}), true, ""},
			{"delta of a permdowned replica", mustGossip(gossip{kind: gossipHeartbeat, from: cref, clocks: causalContext{cref: 5}, body: mustDelta(deltaOf(cref, "evil", 3, nil))}), true, ""},
			{"transfer delta of a permdowned replica", mustGossip(gossip{kind: gossipTransferDelta, from: cref, body: mustDelta(deltaOf(cref, "evil", 3, nil))}), true, ""},
			{"transfer extract of a permdowned replica", mustGossip(gossip{kind: gossipTransferExtract, from: cref, body: extractFrom(cref)}), true, ""},
			{"transfer request of a permdowned replica", mustGossip(gossip{kind: gossipTransferReq, from: cref, clocks: causalContext{cref: 5}}), true, ""},
			{"graceful permdown of a permdowned replica", mustGossip(gossip{kind: gossipPermdown, from: cref}), true, ""},
			{"heartbeat of an older incarnation", mustGossip(gossip{kind: gossipHeartbeat, from: older, clocks: causalContext{older: 1}, body: mustDelta(deltaOf(older, "evil", 3, nil))}), true, ""},
			{"transfer from an older incarnation", mustGossip(gossip{kind: gossipTransferDelta, from: older, body: mustDelta(deltaOf(older, "evil", 3, nil))}), true, ""},
			// A transfer from a live peer that a did not ask: refused and counted.
			{"transfer from b, unasked", mustGossip(gossip{kind: gossipTransferDelta, from: bref, body: mustDelta(deltaOf(bref, "evil", 3, nil))}), true, "a"},
			// Legitimate gossip from a live peer about a replica the receiver permdowned (a asked b for a
			// transfer just before): ignored, not counted.
			{"transfer from b carrying a permdowned replica's values", mustGossip(gossip{kind: gossipTransferDelta, from: bref, body: mustDelta(deltaOf(cref, "evil", 3, nil))}), false, "a"},
		}
		for _, n := range []*hubNode{a, b} { // sent to that node only: to the other, a newer vsn is a restart
			for _, self := range []replicaRef{n.ref(), {Name: n.name, Vsn: n.ref().Vsn + 1}} {
				cases = append(cases,
					badCase{"heartbeat in the receiver's own name " + self.String(), mustGossip(gossip{kind: gossipHeartbeat, from: self, clocks: causalContext{self: 9}, body: mustDelta(deltaOf(self, "evil", 1, nil))}), true, n.name},
					badCase{"transfer in the receiver's own name " + self.String(), mustGossip(gossip{kind: gossipTransferDelta, from: self, body: mustDelta(deltaOf(self, "evil", 1, nil))}), true, n.name},
				)
			}
		}

		before := map[string]string{"a": snapshotOf(a), "b": snapshotOf(b)}
		for _, tc := range cases {
			counts := map[string]uint64{"a": a.tr.Stats().DroppedGossip, "b": b.tr.Stats().DroppedGossip}
			if strings.HasPrefix(tc.name, "transfer from b carrying") {
				s := a.shard()
				s.mu.Lock()
				s.peers["b"].asked, s.peers["b"].pending = time.Now(), 1
				s.mu.Unlock()
			}
			var err error
			if tc.to == "" {
				err = evil.Broadcast(context.Background(), topic, tc.payload)
			} else {
				err = evil.DirectBroadcast(context.Background(), tc.to, topic, tc.payload)
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			synctest.Wait()
			for _, n := range []*hubNode{a, b} {
				want := counts[n.name]
				if tc.counted && (tc.to == "" || tc.to == n.name) {
					want++
				}
				if got := n.tr.Stats().DroppedGossip; got != want {
					t.Errorf("%s: %s counted %d, want %d", tc.name, n.name, got-counts[n.name], want-counts[n.name])
				}
				if got := snapshotOf(n); got != before[n.name] {
					t.Fatalf("%s changed %s:\n%s\nwas\n%s", tc.name, n.name, got, before[n.name])
				}
			}
		}
		if errs := h.Errors(); len(errs) != 0 {
			t.Fatalf("frames rejected by the PubSubs: %v", errs)
		}

		// A big message (2 MiB of zeros): frame sizes are the adapter's to bound (redisadapter's
		// MaxMessageSize; this cluster has none), so it reaches the trackers, which drop it as malformed,
		// count it, and change nothing.
		counts := []uint64{a.tr.Stats().DroppedGossip, b.tr.Stats().DroppedGossip}
		if err := evil.Broadcast(context.Background(), topic, make([]byte, 2<<20)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if errs := h.Errors(); len(errs) != 0 {
			t.Fatalf("the PubSubs returned %v for a 2 MiB frame", errs)
		}
		if got := []uint64{a.tr.Stats().DroppedGossip, b.tr.Stats().DroppedGossip}; got[0] != counts[0]+1 || got[1] != counts[1]+1 {
			t.Fatalf("DroppedGossip went from %v to %v, want one more each", counts, got)
		}
		if snapshotOf(a) != before["a"] || snapshotOf(b) != before["b"] {
			t.Fatal("a 2 MiB garbage message changed a tracker")
		}
	})
}
