package tracker_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// recorder is a Handler that keeps every diff.
type recorder struct {
	mu    sync.Mutex
	diffs []map[string]tracker.Diff
}

func (r *recorder) HandleDiff(d map[string]tracker.Diff) {
	r.mu.Lock()
	r.diffs = append(r.diffs, d)
	r.mu.Unlock()
}

func (r *recorder) all() []map[string]tracker.Diff {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.diffs)
}

func localPS(t *testing.T, node string) *pubsub.PubSub {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "tracker-test", NodeName: node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

func newTracker(t *testing.T, ps *pubsub.PubSub, cfg tracker.Config) *tracker.Tracker {
	tr, err := tracker.New(ps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func keys(ps []tracker.Presence) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Key)
	}
	slices.Sort(out)
	return out
}

func TestTrackListUpdateUntrackLocally(t *testing.T) {
	ps := localPS(t, "a")
	rec := &recorder{}
	tr := newTracker(t, ps, tracker.TestConfig("presence", rec))
	owner := newOwner(t, ps)

	ref, err := tr.Track(owner, "lobby", "user:1", map[string]any{"status": "away"})
	if err != nil || len(ref) != 16 {
		t.Fatalf("Track = %q, %v", ref, err)
	}
	if _, err := tr.Track(owner, "lobby", "user:1", nil); !errors.Is(err, tracker.ErrAlreadyTracked) {
		t.Fatalf("repeat Track: %v", err)
	}
	tr.Track(owner, "lobby", "user:2", nil)
	if got := keys(tr.List("lobby")); !slices.Equal(got, []string{"user:1", "user:2"}) {
		t.Fatalf("List = %v", got)
	}
	p := tr.GetByKey("lobby", "user:1")
	if len(p) != 1 || p[0].Meta["status"] != "away" || p[0].Ref != ref || len(p[0].Meta) != 1 {
		t.Fatalf("GetByKey = %+v", p)
	}

	ref2, err := tr.Update(owner, "lobby", "user:1", map[string]any{"status": "online"})
	if err != nil || ref2 == ref {
		t.Fatalf("Update = %q, %v", ref2, err)
	}
	p = tr.GetByKey("lobby", "user:1")
	if len(p) != 1 || p[0].Meta["status"] != "online" || p[0].RefPrev != ref || p[0].Ref != ref2 || len(p[0].Meta) != 1 {
		t.Fatalf("after Update: %+v", p)
	}
	if _, err := tr.Update(owner, "lobby", "nobody", nil); !errors.Is(err, tracker.ErrNoPresence) {
		t.Fatalf("Update of nothing: %v", err)
	}
	if err := tr.Untrack(owner, "lobby", "user:2"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Untrack(owner, "lobby", "never"); err != nil {
		t.Fatalf("Untrack of nothing: %v", err)
	}
	if got := keys(tr.List("lobby")); !slices.Equal(got, []string{"user:1"}) {
		t.Fatalf("List = %v", got)
	}
	owner.Close() // the owner ends: its presences end
	eventually(t, time.Second, "the owner's presences to leave", func() bool { return len(tr.List("lobby")) == 0 })

	var joins, leaves int
	for _, d := range rec.all() {
		joins += len(d["lobby"].Joins)
		leaves += len(d["lobby"].Leaves)
	}
	if joins != 3 || leaves != 3 { // 2 tracks + update's join; update's leave + untrack + owner close
		t.Fatalf("diffs: %d joins, %d leaves, want 3 and 3", joins, leaves)
	}
}

func TestBadInput(t *testing.T) {
	ps := localPS(t, "a")
	tr := newTracker(t, ps, tracker.TestConfig("presence", nil))
	o := newOwner(t, ps)
	for name, err := range map[string]error{
		"nil owner":   func() error { _, err := tr.Track(nil, "t", "k", nil); return err }(),
		"empty topic": func() error { _, err := tr.Track(o, "", "k", nil); return err }(),
		"empty key":   func() error { _, err := tr.Track(o, "t", "", nil); return err }(),
		"bad meta":    func() error { _, err := tr.Track(o, "t", "k", map[string]any{"f": func() {}}); return err }(),
		"nil fn":      func() error { _, err := tr.UpdateFunc(o, "t", "k", nil); return err }(),
	} {
		if !errors.Is(err, tracker.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
	closed := newOwner(t, ps)
	closed.Close()
	if _, err := tr.Track(closed, "t", "k", nil); !errors.Is(err, tracker.ErrInvalidArgument) {
		t.Errorf("closed owner: %v", err)
	}
	if len(tr.List("t")) != 0 {
		t.Error("a closed owner's presence stayed")
	}
	tr.Close()
	if _, err := tr.Track(o, "t", "k", nil); !errors.Is(err, tracker.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := tracker.New(ps, tracker.Config{Name: "x", BroadcastPeriod: time.Second, DownPeriod: time.Second}); !errors.Is(err, tracker.ErrInvalidConfig) {
		t.Errorf("bad config: %v", err)
	}
}

// A panicking handler is contained and later diffs still arrive.
func TestHandlerPanicIsContained(t *testing.T) {
	ps := localPS(t, "a")
	calls := make(chan int, 10)
	n := 0
	tr := newTracker(t, ps, tracker.TestConfig("presence", tracker.HandlerFunc(func(map[string]tracker.Diff) {
		n++
		calls <- n
		if n == 1 {
			panic("boom")
		}
	})))
	o := newOwner(t, ps)
	tr.Track(o, "t", "a", nil)
	tr.Track(o, "t", "b", nil)
	for want := 1; want <= 2; want++ {
		select {
		case got := <-calls:
			if got != want {
				t.Fatalf("call %d, want %d", got, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("call %d never came", want)
		}
	}
}

// cluster starts n nodes on one miniredis, each with a tracker.
func cluster(t *testing.T, n int, cfg tracker.Config) ([]*pubsub.PubSub, []*tracker.Tracker, *miniredis.Miniredis) {
	m := miniredis.RunT(t)
	name := t.Name()
	var nodes []*pubsub.PubSub
	var trs []*tracker.Tracker
	for i := range n {
		ps := redisNode(t, m.Addr(), name, string(rune('a'+i)))
		nodes = append(nodes, ps)
		trs = append(trs, newTracker(t, ps, cfg))
	}
	return nodes, trs, m
}

func redisNode(t *testing.T, addr, name, node string) *pubsub.PubSub {
	a, err := redisadapter.New(redisadapter.Config{URL: "redis://" + addr + "/0", NodeName: node, ProbeInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJoinsAndLeavesPropagate(t *testing.T) {
	nodes, trs, _ := cluster(t, 3, tracker.TestConfig("presence", nil))
	owners := make([]*pubsub.Subscriber, 3)
	for i, ps := range nodes {
		owners[i] = newOwner(t, ps)
		if _, err := trs[i].Track(owners[i], "room", "user:"+string(rune('a'+i)), map[string]any{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"user:a", "user:b", "user:c"}
	for i, tr := range trs {
		eventually(t, 3*time.Second, "every presence on node "+string(rune('a'+i)), func() bool { return slices.Equal(keys(tr.List("room")), want) })
	}
	trs[1].Untrack(owners[1], "room", "user:b")
	owners[2].Close()
	for _, tr := range trs {
		eventually(t, 3*time.Second, "the leaves", func() bool { return slices.Equal(keys(tr.List("room")), []string{"user:a"}) })
	}
	if p := trs[2].GetByKey("room", "user:a"); len(p) != 1 || p[0].Meta["n"] != int64(0) || p[0].Replica != "a" {
		t.Fatalf("remote presence = %+v", p)
	}
}

// A node that crashes (Close without permdown) loses its presences on its peers after DownPeriod;
// GracefulPermdown removes them at once.
func TestCrashVersusGracefulPermdown(t *testing.T) {
	cfg := tracker.TestConfig("presence", nil)
	nodes, trs, _ := cluster(t, 3, cfg)
	for i, ps := range nodes {
		trs[i].Track(newOwner(t, ps), "room", string(rune('a'+i)), nil)
	}
	for _, tr := range trs {
		eventually(t, 3*time.Second, "all three", func() bool { return len(tr.List("room")) == 3 })
	}
	// Exact down timing is TestTimingCrashDownPermdown's (on a fake clock); on a real clock the down
	// period runs from the crashed node's last heartbeat, which may precede the crash.
	trs[2].Close()
	eventually(t, cfg.DownPeriod+2*time.Second, "the crashed node's presence to leave", func() bool { return len(trs[0].List("room")) == 2 })

	left := time.Now()
	if err := trs[1].GracefulPermdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "the permdowned node's presence to leave", func() bool { return slices.Equal(keys(trs[0].List("room")), []string{"a"}) })
	if since := time.Since(left); since >= cfg.DownPeriod {
		t.Fatalf("graceful permdown took %v, not at once", since)
	}
}

// A node that joins late receives the full state.
func TestLateJoinerGetsState(t *testing.T) {
	cfg := tracker.TestConfig("presence", nil)
	nodes, trs, m := cluster(t, 2, cfg)
	for i := range 50 {
		trs[0].Track(newOwner(t, nodes[0]), "room", "u"+string(rune('A'+i)), nil)
	}
	late := redisNode(t, m.Addr(), t.Name(), "late")
	tl := newTracker(t, late, cfg)
	eventually(t, 5*time.Second, "the late joiner to see 50", func() bool { return len(tl.List("room")) == 50 })
}

// tracker.ErrClosed matches pubsub.ErrClosed, so one test answers "is it over?" for both.
func TestErrClosedMatchesPubSub(t *testing.T) {
	if !errors.Is(tracker.ErrClosed, pubsub.ErrClosed) {
		t.Fatal("tracker.ErrClosed does not match pubsub.ErrClosed")
	}
	if errors.Is(tracker.ErrClosed, pubsub.ErrSubscriberClosed) {
		t.Fatal("tracker.ErrClosed matches pubsub.ErrSubscriberClosed")
	}
}

// newOwner returns a new subscriber of ps, to own presences, or fails the test.
func newOwner(t testing.TB, ps *pubsub.PubSub, opts ...pubsub.MailboxOption) *pubsub.Subscriber {
	t.Helper()
	s, err := ps.NewSubscriber(opts...)
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	return s
}
