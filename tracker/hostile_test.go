package tracker

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
)

// The attacks of issue 10, by a node that can publish on the gossip topics but has no tracker (anyone who
// can PUBLISH to the Redis, without a Secret): each is refused and counted by reason, and what a tracker
// holds stays bounded.

// hostile sets up a and b (TestConfig, MaxReplicas 64) with a presence each, and an evil node.
func hostile(t *testing.T) (h *pubsubtest.Cluster, a, b *hubNode, evil *pubsub.PubSub, topic string) {
	h = pubsubtest.NewCluster()
	cfg := TestConfig("presence", nil)
	cfg.MaxReplicas = 64
	cfg.DownPeriod = 10 * time.Second // the attack outlasts TestConfig's periods; nobody goes down meanwhile
	cfg.PermdownPeriod = 20 * time.Second
	a = start(t, h, "a", cfg)
	b = start(t, h, "b", cfg)
	evil = spy(t, h, "evil")
	a.tr.Track(a.owner(), "room", "ka", nil)
	b.tr.Track(b.owner(), "room", "kb", nil)
	sleep(ms(500))
	return h, a, b, evil, a.shard().topic
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func send(t *testing.T, evil *pubsub.PubSub, topic, to string, payload []byte) {
	t.Helper()
	var err error
	if to == "" {
		err = evil.Broadcast(context.Background(), topic, payload)
	} else {
		err = evil.DirectBroadcast(context.Background(), to, topic, payload)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// 10 000 heartbeats of fake replicas (about 60 bytes each: 1 MB), then a gap: before, every shard kept
// every fake replica and, at the gap, built one transfer request per replica, each carrying every
// replica's clock, under its lock (30 MB → 5.1 GB of heap in 5.3 s). Now a shard knows at most
// MaxReplicas replicas, counts the rest, and builds one request for all.
func TestAttackFakeHeartbeatFloodStaysBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, a, b, evil, topic := hostile(t)
		before := heapInUse()
		for i := range 10_000 {
			x := replicaRef{Name: fmt.Sprintf("fake%05d", i), Vsn: 1}
			send(t, evil, topic, "", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 1}}))
			if i%1000 == 999 {
				synctest.Wait()
			}
		}
		synctest.Wait()
		if err := h.Disrupt("a"); err != nil { // a gap: a asks every replica it knows
			t.Fatal(err)
		}
		sleep(ms(300))
		grew := int64(heapInUse()) - int64(before)
		for _, n := range []*hubNode{a, b} {
			s := n.shard()
			s.mu.Lock()
			peers, replicas := len(s.peers), len(s.state.replicas)
			s.mu.Unlock()
			if peers > n.tr.cfg.MaxReplicas || replicas > n.tr.cfg.MaxReplicas+1 {
				t.Fatalf("%s knows %d peers, %d replicas; MaxReplicas is %d", n.name, peers, replicas, n.tr.cfg.MaxReplicas)
			}
			st := n.tr.Stats()
			if want := uint64(10_000 - (n.tr.cfg.MaxReplicas - 1)); st.DroppedGossipByReason["too_many_replicas"] != want {
				t.Fatalf("%s counted %v, want %d too_many_replicas", n.name, st.DroppedGossipByReason, want)
			}
		}
		if grew > 32<<20 {
			t.Fatalf("the heap grew by %d MB", grew>>20)
		}
		if got := a.list("room"); !slices.Equal(got, []string{"ka@a", "kb@b"}) {
			t.Fatalf("a lists %v", got)
		}
		t.Logf("heap grew by %.1f MB; a: %v", float64(grew)/(1<<20), a.tr.Stats().DroppedGossipByReason)
	})
}

// One heartbeat of a replica listing b's dots as removed erased b's presences everywhere, for good. A
// replica removes another's value only after it saw it, so a remove of a dot beyond what the sender's
// own clocks show of b is forged: refused (the rest of the heartbeat is merged) and counted. A forger
// that also forges its clocks is beyond what can be told apart without a Secret (docs/tracker.md).
func TestAttackForgedRemovesOfUnseenDots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, b, evil, topic := hostile(t)
		bref := b.ref()
		x := replicaRef{Name: "x", Vsn: 1}
		send(t, evil, topic, "", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 0}}))
		synctest.Wait()
		d := deltaOf(x, "evil", 1, nil)
		d.addDot(tag{replica: bref, clock: 1}) // b's presence kb
		send(t, evil, topic, "", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 1}, body: mustDelta(d)}))
		synctest.Wait()
		for _, n := range []*hubNode{a} {
			if got := n.list("room"); !slices.Equal(got, []string{"ka@a", "kb@b"}) {
				t.Fatalf("%s lists %v after a forged remove of b's presence", n.name, got)
			}
			if got := n.tr.Stats().DroppedGossipByReason["unseen_remove"]; got != 1 {
				t.Fatalf("%s counted %v", n.name, n.tr.Stats().DroppedGossipByReason)
			}
			if got := n.list("evil"); len(got) != 1 { // the rest of the heartbeat was x's own: merged
				t.Fatalf("%s lists %v in evil", n.name, got)
			}
		}
	})
}

// A fake replica that sent one heartbeat was accepted as a transfer source and planted presences; now
// only a replica asked for a transfer (and only once per request) is.
func TestAttackUnaskedTransferPlantsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, _, evil, topic := hostile(t)
		x := replicaRef{Name: "x", Vsn: 1}
		send(t, evil, topic, "", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 0}}))
		synctest.Wait()
		st := newState(x)
		st.join("evil", "o", "ghost", nil)
		body, err := marshalExtract(st.extract(a.ref(), causalContext{a.ref(): 0, x: 0}))
		if err != nil {
			t.Fatal(err)
		}
		send(t, evil, topic, "a", mustGossip(gossip{kind: gossipTransferExtract, from: x, body: body}))
		send(t, evil, topic, "a", mustGossip(gossip{kind: gossipTransferDelta, from: x, body: mustDelta(deltaOf(x, "evil", 2, nil))}))
		synctest.Wait()
		if got := a.list("evil"); len(got) != 0 {
			t.Fatalf("a lists ghosts %v", got)
		}
		if got := a.tr.Stats().DroppedGossipByReason["unasked_transfer"]; got != 2 {
			t.Fatalf("a counted %v", a.tr.Stats().DroppedGossipByReason)
		}
	})
}

// 32-byte transfer requests drew full-state answers from every node (200 requests: 51.6 MB). Now a
// request of an unknown replica is refused, and a known one is answered at most once per
// BroadcastPeriod.
func TestAttackTransferRequestsAnsweredAtABoundedRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, a, _, evil, topic := hostile(t)
		var answers int
		h.Tap(func(f pubsubtest.Frame) {
			if g, _, ok := gossipOf(string(f.Bytes)); ok && f.From == "a" && f.To == "evil" &&
				(g.kind == gossipTransferDelta || g.kind == gossipTransferExtract || g.kind == gossipChunk) {
				answers++
			}
		})
		y := replicaRef{Name: "y", Vsn: 1} // never heard of
		for range 100 {
			send(t, evil, topic, "a", mustGossip(gossip{kind: gossipTransferReq, from: y, clocks: causalContext{y: 0}}))
		}
		synctest.Wait()
		if got := a.tr.Stats().DroppedGossipByReason["unknown_requester"]; got != 100 || answers != 0 {
			t.Fatalf("unknown requester: %d answers, counted %v", answers, a.tr.Stats().DroppedGossipByReason)
		}
		x := replicaRef{Name: "evil", Vsn: 1} // a replica a knows, on the node that sends
		send(t, evil, topic, "", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 0}}))
		synctest.Wait()
		answers = 0
		started := time.Now()
		for range 200 {
			send(t, evil, topic, "a", mustGossip(gossip{kind: gossipTransferReq, from: x, clocks: causalContext{x: 0}}))
			sleep(ms(5))
		}
		elapsed := time.Since(started)
		if limit := 1 + int(elapsed/a.tr.cfg.BroadcastPeriod); answers > limit || answers == 0 {
			t.Fatalf("%d answers to 200 requests in %v, want 1..%d", answers, elapsed, limit)
		}
		t.Logf("%d answers to 200 requests in %v; %v", answers, elapsed, a.tr.Stats().DroppedGossipByReason)

		// A request that claims to have merged the last answer (more of a's clock each time) is answered
		// at once only as far as a's clock goes: claims beyond what a has are forged, not progress.
		sleep(2 * a.tr.cfg.BroadcastPeriod)
		answers = 0
		started = time.Now()
		for i := range 200 {
			send(t, evil, topic, "a", mustGossip(gossip{kind: gossipTransferReq, from: x, clocks: causalContext{x: 0, a.tr.shards[0].ref(): uint64(1000 + i)}}))
			sleep(ms(5))
		}
		elapsed = time.Since(started)
		if limit := 1 + int(elapsed/a.tr.cfg.BroadcastPeriod); answers > limit || answers == 0 {
			t.Fatalf("%d answers to 200 requests claiming ever more of a's clock in %v, want 1..%d", answers, elapsed, limit)
		}
	})
}

// Fake incarnations of a node were kept as tombstones for PermdownPeriod without bound; now a shard keeps
// at most maxTombstones × MaxReplicas of them, the oldest going first.
func TestAttackFakeIncarnationsStayBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, a, _, evil, topic := hostile(t)
		for i := range 2000 {
			x := replicaRef{Name: "ghost", Vsn: uint64(i + 1)}
			send(t, evil, topic, "", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 0}}))
			if i%100 == 99 {
				sleep(ms(100)) // a tick trims the tombstones
			}
		}
		sleep(ms(100))
		s := a.shard()
		s.mu.Lock()
		n := len(s.state.permdowned)
		s.mu.Unlock()
		if limit := maxTombstones * a.tr.cfg.MaxReplicas; n > limit {
			t.Fatalf("a keeps %d tombstones, want ≤ %d", n, limit)
		}
	})
}

// A stream from a replica that was not asked for a transfer is refused at its first chunk: counted,
// nothing merged, and no credit granted, so the sender cannot go on; its later chunks are orphans. Parts
// of a full state outside a stream are refused too.
func TestAttackUnaskedStreamGetsNoCredit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, a, _, evil, topic := hostile(t)
		var credits int
		h.Tap(func(f pubsubtest.Frame) {
			if f.From == "a" && isKind(f, gossipCredit) {
				credits++
			}
		})
		x := replicaRef{Name: "evil", Vsn: 1}
		send(t, evil, topic, "", mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 0}}))
		synctest.Wait()
		st := newState(x)
		for i := range 50 {
			st.join("evil", "o", fmt.Sprint("ghost", i), nil)
		}
		chunks := streamOf(t, x, 7, st.extract(a.ref(), causalContext{a.ref(): 0, x: 0}), 100, 200)
		for _, c := range chunks {
			send(t, evil, topic, "a", c)
		}
		body, _, err := marshalPart(slices.Collect(func(yield func(*value) bool) {
			for _, v := range st.extract(a.ref(), causalContext{x: 0}).values {
				if !yield(v) {
					return
				}
			}
		}), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		send(t, evil, topic, "a", mustGossip(gossip{kind: gossipTransferPart, from: x, clocks: causalContext{}, body: body}))
		synctest.Wait()
		if got := a.list("evil"); len(got) != 0 {
			t.Fatalf("a lists ghosts %v", got)
		}
		drops := a.tr.Stats().DroppedGossipByReason
		if drops["unasked_transfer"] != 1 || drops["orphan_chunk"] != uint64(len(chunks)-1) || drops["malformed"] != 1 {
			t.Fatalf("a counted %v for %d chunks and a part", drops, len(chunks))
		}
		if credits != 0 || a.tr.inflight.Load() != 0 {
			t.Fatalf("a granted %d credits (%d chunks in flight) to an unasked stream", credits, a.tr.inflight.Load())
		}
	})
}

// Credit is only a receiver's permission: credit for a stream that is not being sent is ignored (no
// send, no state), and a malformed one is counted. Credit for a stream that is being sent lets it go at
// most TransferWindow ahead of what was sent (outbox.credit), never further.
func TestAttackForgedCreditIsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, a, _, evil, topic := hostile(t)
		var sent int
		h.Tap(func(f pubsubtest.Frame) {
			if f.From == "a" && isKind(f, gossipChunk) {
				sent++
			}
		})
		x := replicaRef{Name: "evil", Vsn: 1}
		for id := range uint64(100) {
			c, err := encodeCredit(x, id, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			send(t, evil, topic, "a", c)
		}
		send(t, evil, topic, "a", mustGossip(gossip{kind: gossipCredit, from: x, clocks: causalContext{}, body: mp("nope")}))
		synctest.Wait()
		if sent != 0 {
			t.Fatalf("a sent %d chunks on forged credit", sent)
		}
		if drops := a.tr.Stats().DroppedGossipByReason; drops["malformed"] != 1 || len(drops) != 1 {
			t.Fatalf("a counted %v", drops)
		}
		ob := a.shard().ob
		fs := &stream{node: "evil", id: 42, granted: 1, seq: 1, progress: time.Now(), srcDone: true,
			next: func() ([]byte, bool, error) { return nil, true, nil }} // a stream with nothing left to send
		ob.mu.Lock()
		ob.bulk = append(ob.bulk, fs)
		ob.mu.Unlock()
		ob.credit("evil", 42, 1<<20)
		ob.mu.Lock()
		granted := fs.granted
		ob.mu.Unlock()
		if limit := 1 + a.tr.windowChunks(); granted != limit {
			t.Fatalf("forged credit of 1 M chunks granted %d, want the sender's window, %d", granted, limit)
		}
	})
}
