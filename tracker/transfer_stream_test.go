package tracker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
)

// Transfer streams (chunk.go, credit.go): a full state travels in parts that the receiver merges as they
// arrive, never faster than it grants credit; a stalled receiver stops the stream, a lost chunk restarts it.

// streamTap watches the streams from one node to another on a cluster: every chunk sent must be within
// the credit its receiver had granted when it was sent.
type streamTap struct {
	mu         sync.Mutex
	chunks     int
	credits    int
	granted    map[uint64]int // by stream id: the highest credit sent
	violations []string
	onChunk    func() // called as each chunk is sent
}

func tapStreams(h *pubsubtest.Cluster, from, to string) *streamTap {
	st := &streamTap{granted: make(map[uint64]int)}
	h.Tap(func(f pubsubtest.Frame) {
		g, _, ok := gossipOf(string(f.Bytes))
		if !ok {
			return
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		switch {
		case g.kind == gossipChunk && f.From == from && f.To == to:
			h, _, err := decodeChunkBody(g.body)
			if err != nil {
				st.violations = append(st.violations, err.Error())
				return
			}
			st.chunks++
			if limit := max(initialCredit, st.granted[h.id]); h.seq >= limit {
				st.violations = append(st.violations, fmt.Sprintf("chunk %d of stream %d sent with credit %d", h.seq, h.id, limit))
			}
			if st.onChunk != nil {
				st.onChunk()
			}
		case g.kind == gossipCredit && f.From == to && f.To == from:
			id, granted, err := decodeCredit(g.body)
			if err != nil {
				st.violations = append(st.violations, err.Error())
				return
			}
			st.credits++
			st.granted[id] = max(st.granted[id], granted)
		}
	})
	return st
}

func (st *streamTap) check(t *testing.T) {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.violations) > 0 {
		t.Fatalf("flow control violated: %v", st.violations)
	}
}

// streamConfig is TestConfig with small messages and windows, so that a few thousand presences make a
// stream of many chunks, and periods long enough that nobody goes down while a test stalls a stream.
func streamConfig() Config {
	cfg := TestConfig("presence", nil)
	cfg.MaxGossipSize = 16 << 10
	cfg.TransferWindow = 32 << 10 // 2 chunks
	cfg.DownPeriod = 5 * time.Second
	cfg.PermdownPeriod = 20 * time.Second
	return cfg
}

func trackN(n *hubNode, count int) {
	o := n.owner()
	for i := range count {
		n.tr.Track(o, "room", fmt.Sprint("user:", i), map[string]any{"name": fmt.Sprint("a user with a longish name ", i)})
	}
}

// A new node gets a peer's 3 000 presences as a stream of parts: it lists some of them while chunks are
// still being sent (the parts are merged as they arrive, not assembled first), no chunk is ever sent beyond the credit
// the receiver granted, and once the stream is over the receiver holds no credit.
func TestTransferStreamMergesAsItArrives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := streamConfig()
		a := start(t, h, "a", cfg)
		trackN(a, 3000)
		sleep(ms(100))
		tap := tapStreams(h, "a", "b")
		var bTracker atomic.Pointer[Tracker]
		var midway atomic.Int64 // presences b listed as a chunk was sent, neither none nor all
		tap.onChunk = func() {
			if tr := bTracker.Load(); tr != nil {
				if n := visibleCount(tr); n > 0 && n < 3000 {
					midway.Store(int64(n))
				}
			}
		}
		b := start(t, h, "b", cfg)
		bTracker.Store(b.tr)
		deadline := time.Now().Add(5 * time.Second)
		for len(b.list("room")) < 3000 {
			if time.Now().After(deadline) {
				t.Fatalf("b lists %d of 3000 presences", len(b.list("room")))
			}
			sleep(ms(10))
		}
		synctest.Wait()
		tap.check(t)
		if midway.Load() == 0 {
			t.Fatal("b listed none or all of the presences whenever a chunk was sent: the parts were not merged as they came")
		}
		if tap.chunks < 10 || tap.credits < 3 {
			t.Fatalf("%d chunks, %d credits", tap.chunks, tap.credits)
		}
		if got := b.tr.Stats().DroppedGossipByReason; len(got) > 0 {
			t.Fatalf("b dropped %v", got)
		}
		if errs := a.tr.Stats().SendErrors; errs != 0 {
			t.Fatalf("a counted %d send errors", errs)
		}
		if n := b.tr.inflight.Load(); n != 0 {
			t.Fatalf("b still holds %d chunks of credit", n)
		}
		t.Logf("%d chunks, %d credits; b listed %d presences as a late chunk went", tap.chunks, tap.credits, midway.Load())
	})
}

// A receiver that grants no more credit (here its credit is lost on the way) stops the stream: the
// sender sends nothing beyond the credit it had, abandons the stream after transferStall and counts it;
// when credit flows again, the receiver asks again and gets everything.
func TestTransferStreamStalledReceiverIsAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := streamConfig()
		a := start(t, h, "a", cfg)
		trackN(a, 3000)
		sleep(ms(100))
		var cut atomic.Bool
		cut.Store(true)
		h.Drop(func(f pubsubtest.Frame) bool { return cut.Load() && f.From == "b" && isKind(f, gossipCredit) })
		tap := tapStreams(h, "a", "b")
		b := start(t, h, "b", cfg)
		sleep(a.tr.transferStall() + ms(500))
		if n := a.tr.Stats().StalledTransfers; n == 0 {
			t.Fatalf("a abandoned no stream (send errors %d)", a.tr.Stats().SendErrors)
		}
		if n := b.tr.Stats().StalledTransfers; n == 0 { // nothing came after the first chunk
			t.Fatal("b abandoned no stream")
		}
		if a.tr.Stats().SendErrors == 0 {
			t.Fatal("a counted no send error for the abandoned stream")
		}
		if n := len(b.list("room")); n == 0 || n >= 3000 {
			t.Fatalf("b lists %d presences with no credit reaching a, want the first chunk's", n)
		}
		tap.mu.Lock()
		sent := tap.chunks
		tap.mu.Unlock()
		if sent > 3 { // one chunk of initial credit per stream: the first, and a restart or two
			t.Fatalf("a sent %d chunks without credit", sent)
		}
		cut.Store(false)
		deadline := time.Now().Add(10 * time.Second)
		for len(b.list("room")) < 3000 {
			if time.Now().After(deadline) {
				t.Fatalf("b lists %d of 3000 presences after credit came back", len(b.list("room")))
			}
			sleep(ms(10))
		}
		synctest.Wait()
		tap.check(t)
		if n := b.tr.inflight.Load(); n != 0 {
			t.Fatalf("b still holds %d chunks of credit", n)
		}
	})
}

// A chunk lost on the way (a gap) abandons the stream at the receiver, which asks again; the sender
// drops the stream that stopped making progress and starts a new one, and the receiver lists everything.
func TestTransferStreamRestartsAfterALostChunk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := streamConfig()
		a := start(t, h, "a", cfg)
		trackN(a, 3000)
		sleep(ms(100))
		var dropped atomic.Bool
		h.Drop(func(f pubsubtest.Frame) bool {
			if f.From != "a" || !isKind(f, gossipChunk) {
				return false
			}
			g, _, _ := gossipOf(string(f.Bytes))
			if ch, _, err := decodeChunkBody(g.body); err == nil && ch.seq == 3 && !dropped.Load() {
				dropped.Store(true)
				return true
			}
			return false
		})
		b := start(t, h, "b", cfg)
		deadline := time.Now().Add(10 * time.Second)
		for len(b.list("room")) < 3000 {
			if time.Now().After(deadline) {
				t.Fatalf("b lists %d of 3000 presences after a lost chunk", len(b.list("room")))
			}
			sleep(ms(10))
		}
		if !dropped.Load() {
			t.Fatal("no chunk was dropped")
		}
		drops := b.tr.Stats().DroppedGossipByReason
		if drops["bad_chunk"] != 1 {
			t.Fatalf("b counted %v, want one bad_chunk (the chunk after the lost one)", drops)
		}
		for reason := range drops {
			if reason != "bad_chunk" && reason != "orphan_chunk" {
				t.Fatalf("b dropped %v", drops)
			}
		}
		synctest.Wait()
		if n := b.tr.inflight.Load(); n != 0 {
			t.Fatalf("b still holds %d chunks of credit", n)
		}
	})
}

// A delta too large for one message (a peer missed 2 000 presences while cut off) is answered as a
// stream too; a heartbeat too large to broadcast goes without its delta, and its receivers ask for it
// at once.
func TestTransferStreamCarriesALargeDelta(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := streamConfig()
		a := start(t, h, "a", cfg)
		b := start(t, h, "b", cfg)
		sleep(ms(250))
		tap := tapStreams(h, "a", "b")
		synctest.Wait()
		trackN(a, 2000) // one eager delta of 2 000 values: about 150 KB, over MaxGossipSize
		deadline := time.Now().Add(5 * time.Second)
		for len(b.list("room")) < 2000 {
			if time.Now().After(deadline) {
				t.Fatalf("b lists %d of 2000 presences", len(b.list("room")))
			}
			sleep(ms(10))
		}
		synctest.Wait()
		tap.check(t)
		if n := a.tr.stats.oversizeHeartbeats.Load(); n == 0 {
			t.Fatal("a broadcast no heartbeat without its delta")
		}
		if tap.chunks < 3 {
			t.Fatalf("%d chunks", tap.chunks)
		}
		if got := b.tr.Stats().DroppedGossipByReason; len(got) > 0 {
			t.Fatalf("b dropped %v", got)
		}
	})
}

// The chunks of a stream are heard from its sender as its heartbeats are: while a large state streams
// in and its heartbeats queue behind the chunks, the receiver keeps the sender up (it hides nothing and
// renders no leaves); once nothing comes from it any more, it goes down after DownPeriod as usual.
func TestTransferStreamChunksKeepTheSenderUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := streamConfig()
		cfg.DownPeriod = ms(400)
		a := start(t, h, "a", cfg)
		trackN(a, 3000)
		sleep(ms(100))
		b := start(t, h, "b", cfg)
		deadline := time.Now().Add(5 * time.Second)
		for len(b.list("room")) < 3000 {
			if time.Now().After(deadline) {
				t.Fatalf("b lists %d of 3000 presences", len(b.list("room")))
			}
			sleep(ms(10))
		}
		// From now on nothing of a's reaches b but what the test says came: a chunk every 100 ms.
		h.Block("a", "b")
		s, from := b.shard(), a.ref()
		leavesBefore := countLeaves(b.log)
		for range 20 {
			s.heard(from, time.Now())
			sleep(ms(100))
		}
		if _, up := b.knows("a"); !up {
			t.Fatal("b took a for down while chunks came from it")
		}
		if n := len(b.list("room")); n != 3000 {
			t.Fatalf("b lists %d of 3000 presences while chunks came from a", n)
		}
		if n := countLeaves(b.log) - leavesBefore; n != 0 {
			t.Fatalf("b's handler got %d leaves while chunks came from a", n)
		}
		sleep(cfg.DownPeriod + 2*cfg.BroadcastPeriod)
		if _, up := b.knows("a"); up {
			t.Fatal("b keeps a up with nothing heard from it for longer than DownPeriod")
		}
		h.Unblock("a", "b")
	})
}

func countLeaves(l *diffLog) int {
	n := 0
	for _, d := range l.all() {
		for _, td := range d.diff {
			n += len(td.Leaves)
		}
	}
	return n
}

// A node without a Handler merges a stream as one with a Handler does (it builds no diffs): it lists
// everything, and then follows a track and an untrack by its peer.
func TestTransferStreamToANodeWithoutHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := streamConfig()
		a := start(t, h, "a", cfg)
		trackN(a, 3000)
		sleep(ms(100))
		ps := h.Node(t, "b", pubsub.Config{Name: "tracker-test"})
		b, err := New(ps, cfg) // cfg.Handler is nil
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close(); ps.Close() })
		deadline := time.Now().Add(5 * time.Second)
		for len(b.List("room")) < 3000 {
			if time.Now().After(deadline) {
				t.Fatalf("b lists %d of 3000 presences", len(b.List("room")))
			}
			sleep(ms(10))
		}
		o := a.owner()
		if _, err := a.tr.Track(o, "room", "late", nil); err != nil {
			t.Fatal(err)
		}
		sleep(ms(300))
		if n := len(b.List("room")); n != 3001 {
			t.Fatalf("b lists %d of 3001 presences", n)
		}
		if err := a.tr.Untrack(o, "room", "late"); err != nil {
			t.Fatal(err)
		}
		sleep(ms(300))
		if n := len(b.List("room")); n != 3000 {
			t.Fatalf("b lists %d of 3000 presences after a remove", n)
		}
	})
}
