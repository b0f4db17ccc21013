package tracker

import (
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

// FuzzGossip feeds arbitrary bytes to a shard as gossip from the network, every kind of message (seeded
// with one of each, the chunks of a stream and a credit included, from a replica the shard knows and has asked for
// a transfer, so that the fuzzer reaches the merges), and checks after each that nothing panicked and
// that what the shard holds stays within its bounds: replicas (MaxReplicas), tombstones, streams being
// assembled (MaxTransferSize), the credit it granted (ReceiveWindow), the handler's queue, and values no more than the bytes fed so far could carry.
func FuzzGossip(f *testing.F) {
	b := replicaRef{Name: "b", Vsn: 7}
	x := replicaRef{Name: "x", Vsn: 9}
	f.Add(mustGossip(gossip{kind: gossipHeartbeat, from: b, clocks: causalContext{b: 0}}))
	f.Add(mustGossip(gossip{kind: gossipHeartbeat, from: b, clocks: causalContext{b: 3}, body: mustDelta(deltaOf(b, "room", 3, map[string]any{"k": "v"}))}))
	f.Add(mustGossip(gossip{kind: gossipTransferReq, from: b, clocks: causalContext{b: 3}}))
	f.Add(mustGossip(gossip{kind: gossipTransferDelta, from: b, body: mustDelta(deltaOf(b, "room", 2, nil))}))
	st := newState(b)
	for i := range 40 {
		st.join("room", "o", string(rune('a'+i%26))+string(rune('a'+i/26)), map[string]any{"n": i})
	}
	ext, err := marshalExtract(st.extract(x, causalContext{b: 0, x: 0}))
	if err != nil {
		f.Fatal(err)
	}
	whole := mustGossip(gossip{kind: gossipTransferExtract, from: b, body: ext})
	f.Add(whole)
	// The same full state as a stream: parts of a few values, each cut into chunks, then the extract
	// without values; and a credit.
	for _, c := range streamOf(f, b, 1, st.extract(x, causalContext{b: 0, x: 0}), 300, 200) {
		f.Add(c)
	}
	credit, err := encodeCredit(b, 1, 5)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(credit)
	f.Add(mustGossip(gossip{kind: gossipPermdown, from: b, clocks: causalContext{}}))
	f.Add(mustGossip(gossip{kind: gossipHeartbeat, from: x, clocks: causalContext{x: 1, b: 2}}))

	ps, err := pubsub.New(f.Context(), pubsub.Config{Name: "fuzz", NodeName: "a"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ps.Close() })
	cfg := ProductionConfig("presence", nil)
	cfg.BroadcastPeriod = time.Hour // the fuzz function ticks the shard itself, on its own goroutine
	cfg.MaxReplicas = 8
	cfg.MaxTransferSize = 1 << 20
	cfg.MaxPendingDiffs = 1000
	cfg.Handler = HandlerFunc(func(map[string]Diff) { time.Sleep(time.Millisecond) }) // slow: the queue fills
	tr, err := New(ps, cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { tr.Close() })
	s := tr.shards[0]
	fed := 0
	f.Fuzz(func(t *testing.T, msg []byte) {
		now := time.Now()
		s.mu.Lock()
		for _, p := range s.peers { // every peer may answer: the fuzzer reaches the merges
			p.asked, p.pending = now, maxPendingAsks
		}
		s.mu.Unlock()
		fed += len(msg)
		s.receive(pubsub.Message{Topic: s.topic, Payload: msg})
		s.tick(now)

		s.mu.Lock()
		defer s.mu.Unlock()
		if n := len(s.peers); n > cfg.MaxReplicas {
			t.Fatalf("%d peers, MaxReplicas %d", n, cfg.MaxReplicas)
		}
		if n := len(s.state.replicas); n > cfg.MaxReplicas+1 {
			t.Fatalf("%d replicas in the state", n)
		}
		if n := len(s.state.permdowned); n > maxTombstones*cfg.MaxReplicas {
			t.Fatalf("%d tombstones", n)
		}
		if total := s.assembling(); total > cfg.MaxTransferSize {
			t.Fatalf("%d bytes being assembled", total)
		}
		if n, limit := tr.inflight.Load(), tr.receiveChunks()+int64(len(s.streams)); n < 0 || n > limit {
			t.Fatalf("%d chunks of credit in flight, want 0..%d", n, limit)
		}
		if n := s.state.size(); n > fed {
			t.Fatalf("%d values from %d bytes fed", n, fed)
		}
		tr.diffs.mu.Lock()
		queued := tr.diffs.count
		tr.diffs.mu.Unlock()
		if limit := max(cfg.MaxPendingDiffs, 2*s.state.size()+2*len(msg)); queued > 2*limit {
			t.Fatalf("%d presences queued for the handler", queued)
		}
	})
}

// streamOf returns the chunks of a full state sent as a stream, in parts of about budget bytes, cut into
// chunks of piece bytes.
func streamOf(tb testing.TB, from replicaRef, id uint64, x *extract, budget, piece int) [][]byte {
	tb.Helper()
	parts := newExtractParts(x, budget)
	var out [][]byte
	for last := false; !last; {
		body, kind, l, err := parts.nextPayload()
		if err != nil {
			tb.Fatal(err)
		}
		last = l
		msg := mustGossip(gossip{kind: kind, from: from, clocks: causalContext{}, body: body})
		chunks, err := cutMessage(from, id, len(out), msg, piece, last)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, chunks...)
	}
	return out
}
