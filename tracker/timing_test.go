package tracker

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
)

// The timing tests run in synctest bubbles on an in-memory cluster (pubsubtest.Cluster): time is fake, advances only when every
// goroutine of the bubble is blocked, and every assertion about "when" is exact. TestConfig's timings:
// heartbeat every 100 ms, an empty one after 2 silent ticks, down after 400 ms, permdown after 1.5 s.

// sent records the gossip frames the cluster delivered (not those it dropped), with the fake time they were sent
// at.
type sent struct {
	start  time.Time
	mu     sync.Mutex
	frames []sentFrame
}

// now returns the time since the recorder started.
func (r *sent) now() time.Duration { return time.Since(r.start) }

type sentFrame struct {
	at       time.Duration // since the recorder started
	from, to string
	g        gossip
	raw      string
}

func record(h *pubsubtest.Cluster) *sent {
	r := &sent{start: time.Now()}
	h.Tap(func(f pubsubtest.Frame) {
		if g, _, ok := gossipOf(string(f.Bytes)); ok && !f.Dropped {
			r.mu.Lock()
			r.frames = append(r.frames, sentFrame{at: r.now(), from: f.From, to: f.To, g: g, raw: string(f.Bytes)})
			r.mu.Unlock()
		}
	})
	return r
}

// times returns when gossip of kind went from one node to another.
func (r *sent) times(from, to string, kind gossipKind) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Duration
	for _, f := range r.frames {
		if f.from == from && f.to == to && f.g.kind == kind {
			out = append(out, f.at)
		}
	}
	return out
}

// last returns the last gossip of kind sent from one node to another.
func (r *sent) last(from, to string, kind gossipKind) (sentFrame, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.frames) - 1; i >= 0; i-- {
		if f := r.frames[i]; f.from == from && f.to == to && f.g.kind == kind {
			return f, true
		}
	}
	return sentFrame{}, false
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// sleep advances the bubble's fake time by d and lets every goroutine finish what that woke up (a bare
// time.Sleep returns when its timer fires, maybe before a ticker firing at the same instant is handled).
func sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// spy starts a PubSub on the cluster without a tracker: a node that hears gossip and never sends any.
func spy(t *testing.T, h *pubsubtest.Cluster, name string) *pubsub.PubSub {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "tracker-test", Adapter: h.Adapter(name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

func (n *hubNode) shard() *shard { return n.tr.shards[0] }

// knows reports whether n's shard 0 knows a replica of node name, and whether it is up.
func (n *hubNode) knows(name string) (known, up bool) {
	s := n.shard()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peers[name]
	return p != nil, p != nil && p.up
}

func (n *hubNode) ref() replicaRef {
	s := n.shard()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.ref()
}

func (n *hubNode) list(topic string) []string { return presenceKeys(n.tr.List(topic)) }

// The first heartbeat goes out one BroadcastPeriod after start; an idle shard then sends an empty one
// every MaxSilentPeriods+1 ticks; a local change is gossiped at once, and resets the silence.
func TestTimingHeartbeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		spy(t, h, "spy") // hears a's gossip, never speaks: a is never nudged
		r := record(h)
		a := start(t, h, "a", cfg)
		sleep(ms(1050))
		want := []time.Duration{0, ms(300), ms(600), ms(900)} // the first as it starts
		if got := r.times("a", "spy", gossipHeartbeat); !slices.Equal(got, want) {
			t.Fatalf("idle heartbeats at %v, want %v", got, want)
		}
		if f, _ := r.last("a", "spy", gossipHeartbeat); f.g.body != nil {
			t.Fatal("an idle heartbeat carries a delta")
		}
		a.tr.Track(a.owner(), "room", "x", nil) // at 1050 ms: gossiped at once, then silence again
		sleep(ms(300))
		want = append(want, ms(1050), ms(1300))
		if got := r.times("a", "spy", gossipHeartbeat); !slices.Equal(got, want) {
			t.Fatalf("heartbeats at %v, want %v", got, want)
		}
		if f, _ := r.last("a", "spy", gossipHeartbeat); f.g.body != nil {
			t.Fatal("the heartbeat after the delta is not empty")
		}
		if dropped := h.Stats().Dropped; dropped != 0 {
			t.Fatalf("%d frames dropped", dropped)
		}
	})
}

// A new node is discovered by its peers at once: its first heartbeat goes out as it starts. A peer that
// hears a replica for the first time greets it with a heartbeat at once (not at its next tick, nor after
// up to MaxSilentPeriods idle ones), and the newcomer, hearing of a replica ahead of it, asks it for a
// transfer at once (not at its next clock sample): it lists its peers' presences within a few message
// trips of its start (the same fake instant here), and what it tracks is on its peers at once.
func TestTimingNewNodeDiscovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		a := start(t, h, "a", cfg)
		a.tr.Track(a.owner(), "room", "old", nil) // a's heartbeats: at 0 (the delta), 300, 600, ...
		sleep(ms(310))
		b := start(t, h, "b", cfg) // at 310 ms; ticks at 410, 510, ...
		bStarted := time.Now()
		synctest.Wait()
		if _, up := a.knows("b"); !up {
			t.Fatal("b not up on a as it started")
		}
		if got := b.list("room"); !slices.Equal(got, []string{"old@a"}) || time.Since(bStarted) != 0 {
			t.Fatalf("b lists %v %v after it started", got, time.Since(bStarted))
		}
		b.tr.Track(b.owner(), "room", "new", nil)
		synctest.Wait()
		if got := a.list("room"); !slices.Contains(got, "new@b") {
			t.Fatalf("b's presence not on a at once: %v", got)
		}
	})
}

// A local change reaches a peer at once (the same fake instant), not at the next tick.
func TestTimingEagerDelta(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		a := start(t, h, "a", cfg)
		b := start(t, h, "b", cfg)
		sleep(ms(537)) // between ticks
		o := a.owner()
		start := time.Now()
		// The first change of a quiet shard goes out at once; changes right after it follow within
		// eagerInterval, batched (see shard.run), far before the next tick.
		a.tr.Track(o, "room", "x", map[string]any{"n": 1})
		synctest.Wait()
		if got := b.list("room"); !slices.Equal(got, []string{"x@a"}) {
			t.Fatalf("track not on b at once: %v", got)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("the first change took %v of fake time", d)
		}
		a.tr.Update(o, "room", "x", map[string]any{"n": 2})
		sleep(eagerInterval)
		synctest.Wait()
		if p := b.tr.GetByKey("room", "x"); len(p) != 1 || p[0].Meta["n"] != int64(2) {
			t.Fatalf("update not on b within %v: %+v", eagerInterval, p)
		}
		a.tr.Untrack(o, "room", "x")
		sleep(eagerInterval)
		synctest.Wait()
		if got := b.list("room"); len(got) != 0 {
			t.Fatalf("untrack not on b within %v: %v", eagerInterval, got)
		}
		if d := time.Since(start); d > 2*eagerInterval {
			t.Fatalf("%v of fake time went by", d)
		}
	})
}

// A node that crashes (Close, no permdown) stays listed on its peers for DownPeriod after its last
// heartbeat, leaves at the first tick after that, and is discarded (with its replica id) after
// PermdownPeriod; a heartbeat of the old replica after that is dropped and counted.
func TestTimingCrashDownPermdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		r := record(h)
		a := start(t, h, "a", cfg)
		b := start(t, h, "b", cfg)
		c := start(t, h, "c", cfg)
		sleep(ms(1030))
		c.tr.Track(c.owner(), "room", "x", nil) // c's last heartbeat, at 1030 ms
		synctest.Wait()
		cref := c.ref()
		lastBeat, _ := r.last("c", "a", gossipHeartbeat)
		crashed := time.Now()
		c.crash()
		if got := a.list("room"); !slices.Equal(got, []string{"x@c"}) {
			t.Fatalf("a lists %v", got)
		}

		sleep(cfg.DownPeriod) // exactly DownPeriod: not down yet
		if got := a.list("room"); len(got) != 1 {
			t.Fatalf("c's presence left before DownPeriod: %v", got)
		}
		var left time.Duration
		for left = cfg.DownPeriod; len(a.list("room")) == 1; left += time.Millisecond {
			sleep(time.Millisecond)
		}
		// a ticks every 100 ms from 0: the first tick more than 400 ms after 1030 ms is at 1500 ms.
		if left <= cfg.DownPeriod || left > cfg.DownPeriod+cfg.BroadcastPeriod || left != ms(470) {
			t.Fatalf("c's presence left %v after its last heartbeat, want in (DownPeriod, DownPeriod+BroadcastPeriod]", left)
		}
		if known, up := a.knows("c"); !known || up {
			t.Fatalf("c on a: known %v, up %v; want known and down", known, up)
		}
		if evs := a.log.events(); evs[len(evs)-1] != "-room/x@c" {
			t.Fatalf("a's handler saw %v", evs)
		}

		// Permdown: the first tick more than 1.5 s after 1030 ms is at 2600 ms.
		sleep(time.Until(crashed.Add(cfg.PermdownPeriod)))
		if known, _ := a.knows("c"); !known {
			t.Fatal("c discarded before PermdownPeriod")
		}
		sleep(ms(70))
		if known, _ := a.knows("c"); known {
			t.Fatal("c not discarded after PermdownPeriod")
		}
		for _, n := range []*hubNode{a, b} {
			s := n.shard()
			s.mu.Lock()
			_, inState := s.state.replicas[cref]
			inGens := slices.ContainsFunc(s.gens.gens, func(d *delta) bool { return d.has(cref) })
			tomb := s.state.isPermdowned(cref)
			s.mu.Unlock()
			if inState || inGens || !tomb {
				t.Fatalf("on %s after permdown: c in state %v, in generations %v, tombstone %v", n.name, inState, inGens, tomb)
			}
		}
		evs := a.log.events()

		// A late heartbeat of the permdowned replica (replayed from the wire) is dropped and counted: by
		// the PubSub, which has seen that frame already (the tracker would drop it too, as gossip of a
		// permdowned replica).
		dropped := func() uint64 { return a.tr.Stats().DroppedGossip + a.ps.Stats().DroppedDuplicate }
		before := dropped()
		h.Inject("a", []byte(lastBeat.raw))
		synctest.Wait()
		if got := dropped(); got != before+1 {
			t.Fatalf("%d dropped, want %d", got, before+1)
		}
		if got := a.list("room"); len(got) != 0 {
			t.Fatalf("the permdowned replica came back: %v", got)
		}
		if known, _ := a.knows("c"); known {
			t.Fatal("the permdowned replica is a peer again")
		}

		// The tombstone goes one PermdownPeriod later: then nothing of c is left on a.
		sleep(cfg.PermdownPeriod + cfg.BroadcastPeriod)
		s := a.shard()
		s.mu.Lock()
		tomb, replicas := s.state.isPermdowned(cref), len(s.state.replicas)
		s.mu.Unlock()
		if tomb || replicas != 2 {
			t.Fatalf("after the tombstone expired: tombstone %v, %d replicas known (want a and b)", tomb, replicas)
		}
		if got := a.log.events(); !slices.Equal(got, evs) {
			t.Fatalf("permdown changed the diffs: %v", got[len(evs):])
		}
	})
}

// GracefulPermdown removes the node's presences from its peers at once.
func TestTimingGracefulPermdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		a := start(t, h, "a", cfg)
		b := start(t, h, "b", cfg)
		b.tr.Track(b.owner(), "room", "y", nil)
		sleep(ms(333))
		if got := a.list("room"); len(got) != 1 {
			t.Fatalf("a lists %v", got)
		}
		start := time.Now()
		if err := b.tr.GracefulPermdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := a.list("room"); len(got) != 0 || time.Since(start) != 0 {
			t.Fatalf("a lists %v after %v", got, time.Since(start))
		}
		if known, _ := a.knows("b"); known {
			t.Fatal("b still a peer of a")
		}
		if evs := a.log.events(); evs[len(evs)-1] != "-room/y@b" {
			t.Fatalf("a's handler saw %v", evs)
		}
	})
}

// A node that restarts (a new PubSub and tracker with the same node name) is a new replica: its old
// incarnation's presences leave its peers at its first heartbeat, long before DownPeriod.
func TestTimingRestartIsNewReplica(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		a := start(t, h, "a", cfg)
		b := start(t, h, "b", cfg)
		b.tr.Track(b.owner(), "room", "old", nil)
		sleep(ms(520))
		oldRef := b.ref()
		b.crash()
		sleep(ms(50))
		b2 := start(t, h, "b", cfg) // at 570 ms
		restarted := time.Now()
		if b2.ref() == oldRef || b2.ref().Vsn < oldRef.Vsn {
			t.Fatalf("restarted replica %v, old %v", b2.ref(), oldRef)
		}
		// b2's first heartbeat goes out when it hears one of a's (it greets a at once) or at its first
		// tick, whichever comes first: the old incarnation leaves a then, not after DownPeriod.
		var left time.Duration
		for left == 0 && time.Since(restarted) < cfg.BroadcastPeriod {
			sleep(time.Millisecond)
			if got := a.list("room"); len(got) == 0 {
				left = time.Since(restarted)
			} else if !slices.Equal(got, []string{"old@b"}) {
				t.Fatalf("a lists %v", got)
			}
		}
		if left == 0 || left > cfg.BroadcastPeriod {
			t.Fatalf("old incarnation still listed %v after the restart", time.Since(restarted))
		}
		s := a.shard()
		s.mu.Lock()
		_, inState := s.state.replicas[oldRef]
		s.mu.Unlock()
		if inState {
			t.Fatal("the old incarnation is still in a's state")
		}
		b2.tr.Track(b2.owner(), "room", "new", nil)
		synctest.Wait()
		if got := a.list("room"); !slices.Equal(got, []string{"new@b"}) {
			t.Fatalf("a lists %v", got)
		}
		if got := a.log.events(); !slices.Equal(got, []string{"+room/old@b", "-room/old@b", "+room/new@b"}) {
			t.Fatalf("a's handler saw %v", got)
		}
	})
}

// A replica that missed some gossip (its delta dropped on the way) catches up by anti-entropy: the next
// heartbeat it hears carries a clock ahead of its own, and within ClockSamplePeriods ticks it asks for a
// transfer and merges it.
func TestTimingTransferToLaggingReplica(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		r := record(h)
		a := start(t, h, "a", cfg)
		b := start(t, h, "b", cfg)
		c := start(t, h, "c", cfg)
		sleep(ms(1010))
		var lost atomic.Int32
		h.Drop(func(f pubsubtest.Frame) bool {
			if f.From == "a" && f.To == "c" && isKind(f, gossipHeartbeat) {
				if g, _, _ := gossipOf(string(f.Bytes)); g.body != nil {
					lost.Add(1)
					return true
				}
			}
			return false
		})
		o := a.owner()
		for i := range 5 {
			a.tr.Track(o, "room", fmt.Sprint("k", i), nil)
			sleep(eagerInterval) // one delta each
			synctest.Wait()
		}
		h.Drop(nil)
		if lost.Load() == 0 || len(c.list("room")) != 0 || len(b.list("room")) != 5 {
			t.Fatalf("lost %d deltas; c lists %v, b %v", lost.Load(), c.list("room"), b.list("room"))
		}
		// The next heartbeat c hears from a or b (after the lost deltas) carries a's new clock.
		var heard time.Duration
		for heard == 0 {
			sleep(time.Millisecond)
			for _, from := range []string{"a", "b"} {
				if f, ok := r.last(from, "c", gossipHeartbeat); ok && f.g.clocks[a.ref()] >= 5 && (heard == 0 || f.at < heard) {
					heard = f.at
				}
			}
		}
		deadline := heard + time.Duration(cfg.ClockSamplePeriods)*cfg.BroadcastPeriod
		for len(c.list("room")) != 5 {
			if r.now() > deadline {
				t.Fatalf("c lists %v, %v after hearing the advanced clock", c.list("room"), r.now()-heard)
			}
			sleep(time.Millisecond)
		}
		if len(r.times("c", "a", gossipTransferReq))+len(r.times("c", "b", gossipTransferReq)) == 0 {
			t.Fatal("c caught up without a transfer")
		}
		acks := len(r.times("a", "c", gossipTransferDelta)) + len(r.times("b", "c", gossipTransferDelta)) +
			len(r.times("a", "c", gossipTransferExtract)) + len(r.times("b", "c", gossipTransferExtract))
		if acks == 0 {
			t.Fatal("no transfer answered c")
		}
	})
}

// Diffs come in the order of the changes, never empty, grouped by topic; an update is a join and a leave
// in one topic's diff, the join's meta naming the leave's ref in phx_ref_prev; a peer sees the same diffs.
func TestHandlerDiffsInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		a := start(t, h, "a", cfg)
		b := start(t, h, "b", cfg)
		sleep(ms(250))
		o1, o2 := a.owner(), a.owner()
		step := func(f func()) { f(); sleep(eagerInterval); synctest.Wait() } // one delta per step
		var ref1, ref2 string
		step(func() { ref1, _ = a.tr.Track(o1, "t1", "k1", map[string]any{"v": 1}) })
		step(func() { a.tr.Track(o1, "t1", "k2", nil) })
		step(func() { ref2, _ = a.tr.Update(o1, "t1", "k1", map[string]any{"v": 2}) })
		step(func() { a.tr.Track(o2, "t1", "k3", nil) })
		step(func() { a.tr.Track(o2, "t2", "k3", nil) })
		step(func() { o2.Close() }) // UntrackAll: one diff, two topics
		step(func() { a.tr.Untrack(o1, "t1", "k2") })
		want := [][]string{
			{"+t1/k1@a"},
			{"+t1/k2@a"},
			{"-t1/k1@a", "+t1/k1@a"},
			{"+t1/k3@a"},
			{"+t2/k3@a"},
			{"-t1/k3@a", "-t2/k3@a"},
			{"-t1/k2@a"},
		}
		for _, n := range []*hubNode{a, b} {
			diffs := n.log.all()
			var got [][]string
			for _, d := range diffs {
				if len(d.diff) == 0 {
					t.Fatalf("%s: empty diff", n.name)
				}
				for topic, td := range d.diff {
					if len(td.Joins)+len(td.Leaves) == 0 {
						t.Fatalf("%s: empty diff for topic %s", n.name, topic)
					}
				}
				got = append(got, diffEvents(d.diff))
			}
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("%s's diffs:\n%v\nwant\n%v", n.name, got, want)
			}
			upd := diffs[2].diff["t1"]
			jp, lp := upd.Joins[0], upd.Leaves[0]
			j, l := jp.Meta, lp.Meta
			if jp.Ref != ref2 || jp.RefPrev != ref1 || j["v"] != int64(2) || lp.Ref != ref1 || l["v"] != int64(1) || lp.RefPrev != "" || len(j) != 1 || len(l) != 1 {
				t.Fatalf("%s: update diff join %v, leave %v (refs %s → %s)", n.name, j, l, ref1, ref2)
			}
		}
	})
}

// A handler that blocks for an hour stalls nothing but itself: heartbeats go on, changes replicate both
// ways, nobody is marked down, and when it returns it gets every diff, in order.
func TestHandlerSlowStallsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		r := record(h)
		slow := &diffLog{}
		var calls atomic.Int32
		cfgA := TestConfig("presence", HandlerFunc(func(d map[string]Diff) {
			if calls.Add(1) == 1 {
				time.Sleep(time.Hour)
			}
			slow.HandleDiff(d)
		}))
		a := start(t, h, "a", cfgA)
		b := start(t, h, "b", TestConfig("presence", nil))
		oa, ob := a.owner(), b.owner()
		a.tr.Track(oa, "room", "first", nil) // the handler blocks on this one
		synctest.Wait()
		blocked := r.now()
		wantA := []string{"first@a"}
		var wantB []string
		for i := range 50 { // 5 s, more than DownPeriod
			sleep(ms(100))
			switch i % 3 {
			case 0:
				a.tr.Track(oa, "room", fmt.Sprint("a", i), nil)
				wantA = append(wantA, fmt.Sprint("a", i, "@a"))
			case 1:
				b.tr.Track(ob, "room", fmt.Sprint("b", i), nil)
				wantB = append(wantB, fmt.Sprint("b", i, "@b"))
			case 2:
				a.tr.Untrack(oa, "room", strings.TrimSuffix(wantA[len(wantA)-1], "@a"))
				wantA = wantA[:len(wantA)-1]
			}
			synctest.Wait()
			want := append(slices.Clone(wantA), wantB...)
			slices.Sort(want)
			if got := b.list("room"); !slices.Equal(got, want) {
				t.Fatalf("step %d: b lists %v, want %v", i, got, want)
			}
			if got := a.list("room"); !slices.Equal(got, want) {
				t.Fatalf("step %d: a lists %v, want %v", i, got, want)
			}
		}
		if calls.Load() != 1 {
			t.Fatalf("handler called %d times while blocked", calls.Load())
		}
		var beats int
		for _, at := range r.times("a", "b", gossipHeartbeat) {
			if at > blocked {
				beats++
			}
		}
		if beats < 33 { // every change is a heartbeat
			t.Fatalf("a sent %d heartbeats while its handler was blocked", beats)
		}
		if _, up := b.knows("a"); !up {
			t.Fatal("b marked a down")
		}
		sleep(time.Hour)
		synctest.Wait()
		if got, want := slow.events(), b.log.events(); !slices.Equal(got, want) || len(got) != 51 {
			t.Fatalf("a's blocked handler got %d events %v\nb's handler got %v", len(got), got, want)
		}
	})
}

// logRecorder is a slog.Handler that keeps the messages of records.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) find(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range l.msgs {
		if strings.Contains(m, substr) {
			out = append(out, m)
		}
	}
	return out
}

// A panicking handler is logged, and the next diff arrives as usual.
func TestHandlerPanicLoggedNextDiffArrives(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		logs := &logRecorder{}
		got := &diffLog{}
		var calls atomic.Int32
		cfg := TestConfig("presence", HandlerFunc(func(d map[string]Diff) {
			if calls.Add(1) == 1 {
				panic("boom")
			}
			got.HandleDiff(d)
		}))
		cfg.Logger = slog.New(logs)
		a := start(t, h, "a", cfg)
		a.tr.Track(a.owner(), "room", "x", nil)
		a.tr.Track(a.owner(), "room", "y", nil)
		synctest.Wait()
		if evs := got.events(); !slices.Equal(evs, []string{"+room/y@a"}) {
			t.Fatalf("after the panic the handler got %v", evs)
		}
		if m := logs.find("HandleDiff panicked"); len(m) != 1 || !strings.Contains(m[0], "ERROR") || !strings.Contains(m[0], "boom") {
			t.Fatalf("logged %v", m)
		}
	})
}

// Reads never wait: List and GetByKey return while the handler is blocked and while the shard's lock is
// held (as by a merge).
func TestReadsNeverWaitForShardOrHandler(t *testing.T) {
	ps := localTestPS(t, "a")
	release := make(chan struct{})
	var once sync.Once
	tr, err := New(ps, TestConfig("presence", HandlerFunc(func(map[string]Diff) { once.Do(func() { <-release }) })))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	defer close(release)
	o := newSub(t, ps)
	tr.Track(o, "busy", "k", nil)
	tr.Track(o, "other", "j", nil)
	s := tr.shards[0]
	s.mu.Lock() // the shard is busy (a merge holds this lock)
	done := make(chan []string)
	go func() {
		done <- []string{
			strings.Join(presenceKeys(tr.List("busy")), ","),
			strings.Join(presenceKeys(tr.GetByKey("busy", "k")), ","),
			strings.Join(presenceKeys(tr.List("other")), ","),
		}
	}()
	select {
	case got := <-done:
		if !slices.Equal(got, []string{"k@a", "k@a", "j@a"}) {
			t.Errorf("reads returned %v", got)
		}
	case <-time.After(10 * time.Second): // a guard against a hang, not a timing assumption
		t.Error("List waited for the shard's lock or the handler")
	}
	s.mu.Unlock()
}

func localTestPS(t testing.TB, node string) *pubsub.PubSub {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "tracker-test", NodeName: node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

// bigState returns a state of replica ref holding n presences in topic, each with its own owner and a
// phx_ref, as Track makes them.
func bigState(ref replicaRef, topic string, n int) *state {
	st := newState(ref)
	for i := range n {
		st.join(topic, fmt.Sprint(i), fmt.Sprint("user:", i), map[string]any{MetaRef: newRef().String()})
	}
	return st
}

// deliver hands a gossip message to a shard as its subscriber would.
func deliver(s *shard, g gossip) {
	b, err := encodeGossip(g)
	if err != nil {
		panic(err)
	}
	s.receive(pubsub.Message{Topic: s.topic, Payload: b})
}

// Reads never wait for a merge: while a 100 000-value full-state transfer merges (holding the shard's
// lock for its whole length), List of another topic keeps returning, in microseconds.
func TestReadsDuringBigMerge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100k-value state")
	}
	ps := localTestPS(t, "a")
	tr, err := New(ps, Config{Name: "presence"}) // production timings: the fake peer stays up
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.Track(newSub(t, ps), "other", "j", nil)
	s := tr.shards[0]
	big := replicaRef{Name: "big", Vsn: 1}
	deliver(s, gossip{kind: gossipHeartbeat, from: big, clocks: causalContext{big: 0}})
	s.mu.Lock()
	s.peers["big"].asked, s.peers["big"].pending = time.Now(), 1 // a transfer is accepted only from a replica asked for one
	s.mu.Unlock()
	const n = 100_000
	src := bigState(big, "huge", n)
	body, err := marshalExtract(src.extract(s.state.ref(), causalContext{s.state.ref(): 0, big: 0}))
	if err != nil {
		t.Fatal(err)
	}
	merged := make(chan time.Duration)
	go func() {
		start := time.Now()
		deliver(s, gossip{kind: gossipTransferExtract, from: big, body: body})
		merged <- time.Since(start)
	}()
	var during, reads int
	var slowest time.Duration
	for {
		select {
		case took := <-merged:
			t.Logf("merge of %d values took %v; %d Lists of another topic returned meanwhile, %d of them while the merge held the shard's lock; slowest %v",
				n, took, reads, during, slowest)
			if during == 0 {
				t.Fatal("no List returned while the merge held the shard's lock")
			}
			if got := len(tr.List("huge")); got != n {
				t.Fatalf("List after the merge: %d presences", got)
			}
			return
		default:
		}
		held := !s.mu.TryLock()
		if !held {
			s.mu.Unlock()
		}
		start := time.Now()
		got := tr.List("other")
		took := time.Since(start)
		if len(got) != 1 {
			t.Fatalf("List(other) = %v", got)
		}
		reads++
		slowest = max(slowest, took)
		if held && !s.mu.TryLock() {
			during++ // the lock was held before and after this List
		} else if held {
			s.mu.Unlock()
		}
	}
}

// A transfer larger than what the transport carries travels in chunks: here the cluster refuses frames
// over 64 KiB and MaxGossipSize is 32 KiB; a peer that missed 2000 presences (about 120 KB as a delta)
// gets them after the heal, as a stream of chunks none of which is over 32 KiB (under the receiver's credit,
// and capped at TransferRate), and nothing fails to send.
func TestTransferLargerThanAMessageTravelsInChunks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		h.SetMaxFrame(64 << 10)
		var largest, chunks atomic.Int64
		h.Tap(func(f pubsubtest.Frame) {
			if g, _, ok := gossipOf(string(f.Bytes)); ok {
				if int64(len(f.Bytes)) > largest.Load() {
					largest.Store(int64(len(f.Bytes)))
				}
				if g.kind == gossipChunk {
					chunks.Add(1)
				}
			}
		})
		cfg := TestConfig("presence", nil)
		cfg.MaxGossipSize = 32 << 10
		cfg.TransferRate = 256 << 10 // 120 KB: about half a second
		a := start(t, h, "a", cfg)
		b := start(t, h, "b", cfg)
		sleep(ms(250))
		h.Partition([]string{"a"}, []string{"b"})
		o := a.owner()
		for i := range 2000 {
			a.tr.Track(o, "room", fmt.Sprint("user:", i), map[string]any{"name": fmt.Sprint("a user with a longish name ", i)})
		}
		sleep(ms(100))
		h.Heal()
		healed := time.Now()
		for len(b.list("room")) < 2000 {
			sleep(ms(10))
			if time.Since(healed) > 5*time.Second {
				t.Fatalf("b lists %d of 2000 presences 5 s after the heal", len(b.list("room")))
			}
		}
		took := time.Since(healed)
		if errs := a.tr.Stats().SendErrors; errs != 0 {
			t.Fatalf("a counted %d send errors", errs)
		}
		if n := largest.Load(); n > int64(cfg.MaxGossipSize) {
			t.Fatalf("a gossip frame of %d bytes, over MaxGossipSize %d", n, cfg.MaxGossipSize)
		}
		if chunks.Load() < 3 {
			t.Fatalf("%d chunks sent", chunks.Load())
		}
		// The chunks of a's big heartbeat that were sent after the heal lost their first: orphans.
		for reason := range b.tr.Stats().DroppedGossipByReason {
			if reason != "orphan_chunk" {
				t.Fatalf("b dropped messages: %v", b.tr.Stats().DroppedGossipByReason)
			}
		}
		t.Logf("b lists a's 2000 presences %v after the heal, in %d chunks of at most %d bytes", took, chunks.Load(), largest.Load())
	})
}
