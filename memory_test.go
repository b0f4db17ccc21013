package pubsub_test

import (
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/phxgo/pubsub"
)

// fullMode reports whether the large-scale tests run at full size (PHXGO_FULL=1, which .ci/run sets).
func fullMode() bool { return os.Getenv("PHXGO_FULL") == "1" }

// The budget of an idle subscriber with one subscription (its mailbox, itself, its subscription, its
// topic's name, the PubSub's record of it and the test's pointer to it), and the margin the test keeps
// below it.
const (
	idleBudget = 512
	idleLimit  = idleBudget * 9 / 10
)

// An idle subscriber with one subscription costs at most idleLimit bytes of heap, whatever its mailbox
// bound, and holds no goroutine: measured over 20 000 subscribers, or 1 000 000 (≤ 512 MB in all) in
// full mode.
func TestIdleSubscriberMemory(t *testing.T) {
	n := 20_000
	if fullMode() {
		n = 1_000_000
	}
	ps := newPS(t, pubsub.Config{})
	goroutines := runtime.NumGoroutine()
	subs := make([]*pubsub.Subscriber, 0, n)
	before := heapInUse()
	for i := range n {
		s := newSub(t, ps)
		if err := s.Subscribe("user:" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		_ = s.C() // a reader would select on it
		subs = append(subs, s)
	}
	after := heapInUse()
	per := float64(after-before) / float64(n)
	t.Logf("%d idle subscribers: %.0f B each, %.1f MB in all", n, per, float64(after-before)/1e6)
	if per > idleLimit {
		t.Errorf("an idle subscriber costs %.0f B, want ≤ %d (the budget %d less a 10%% margin)", per, idleLimit, idleBudget)
	}
	if g := runtime.NumGoroutine(); g > goroutines {
		t.Errorf("%d goroutines for idle subscribers, %d before", g, goroutines)
	}
	runtime.KeepAlive(subs)
}

// After a burst the mailboxes give their memory back: once drained, subscribers cost what they did
// before it. (The first burst leaves the runtime's records of the pump goroutines it started, about
// 400 B each, which it keeps for reuse: the second burst, measured, starts from there.)
func TestMailboxShrinksAfterBurst(t *testing.T) {
	const n, burst = 2000, 200
	ps := newPS(t, pubsub.Config{})
	subs := make([]*pubsub.Subscriber, n)
	for i := range subs {
		subs[i] = newSub(t, ps)
		subs[i].Subscribe("room")
	}
	cycle := func() (idle, full, drained uint64) {
		idle = heapInUse()
		for i := range burst {
			ps.LocalBroadcast("room", i)
		}
		full = heapInUse()
		for _, s := range subs {
			for k := range burst {
				if got := receive(t, s).Payload; got != k {
					t.Fatalf("message %d: %v", k, got)
				}
			}
		}
		return idle, full, heapInUse()
	}
	cycle()
	idle, full, drained := cycle()
	t.Logf("per subscriber: %.0f B idle → %.0f B holding %d messages → %.0f B drained",
		float64(idle)/n, float64(full)/n, burst, float64(drained)/n)
	if grown := float64(full-idle) / n; grown < burst*32*0.9 {
		t.Fatalf("a burst of %d grew a mailbox by %.0f B only: not measured", burst, grown)
	}
	if drained > idle+n*32 {
		t.Errorf("after draining, %.0f B more per subscriber than before the burst", float64(drained-idle)/n)
	}
	runtime.KeepAlive(subs)
}

// heapInUse returns the bytes of live heap objects after a full collection. (Goroutines that ended
// hand their stacks back asynchronously; HeapAlloc does not count stacks.)
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
