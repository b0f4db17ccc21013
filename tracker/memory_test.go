package tracker

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

// memoryLimitPerPresence is issue 10's target: what the tracker holds per presence at 100 000 presences
// with a 2-key meta, everything included (the CRDT, the read views, the owner index and watches). Met
// both with 1000 presences per owner (about 250 B) and with an owner each (about 260 B: a subscriber
// owner costs its slot in the shard's owner index and nothing else, see owners and pubsub.CloseWatcher).
const memoryLimitPerPresence = 300

// TestMemoryPerPresence tracks 100 000 presences with a 2-key meta (a shared status string and a
// per-presence integer, as an "online_at" is) over 1000 topics, with 1000 presences per owner and with an
// owner each, and asserts the heap the tracker holds per presence. Owners, keys and topic names are made
// before the baseline (they are the program's). PHXGO_HEAPPROFILE=file writes a heap profile of each layout.
func TestMemoryPerPresence(t *testing.T) {
	if raceEnabled {
		t.Skip("memory figures mean nothing under the race detector")
	}
	if testing.Short() {
		t.Skip("tracks 200 000 presences")
	}
	for _, perOwner := range []int{1000, 1} {
		t.Run(fmt.Sprintf("presences-per-owner=%d", perOwner), func(t *testing.T) {
			per := measureMemoryPerPresence(t, 100_000, perOwner)
			t.Logf("%.1f B per presence", per)
			if per > memoryLimitPerPresence {
				t.Errorf("%.1f B per presence, want at most %d", per, memoryLimitPerPresence)
			}
		})
	}
}

// steadyHeap returns the live heap once the tracker is at rest: the least of the heaps measured every
// period until two in a row agree within 1 % (at most 20 periods). A burst of Tracks may leave a large
// delta being taken, encoded and gossiped for a while (longer on a loaded machine, where the shard's
// goroutine waits for a CPU): that is not what a presence costs.
func steadyHeap(period time.Duration) uint64 {
	time.Sleep(period)
	least := heapAfterGC()
	for range 20 {
		time.Sleep(period)
		h := heapAfterGC()
		steady := h < least+least/100 && least < h+h/100
		least = min(least, h)
		if steady {
			break
		}
	}
	return least
}

func measureMemoryPerPresence(t *testing.T, n, perOwner int) float64 {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "mem", NodeName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	owners := make([]*pubsub.Subscriber, n/perOwner)
	for i := range owners {
		owners[i] = newSub(t, ps, pubsub.WithMailboxSize(1))
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprint("user:", i)
	}
	before := heapAfterGC()
	cfg := Config{Name: "presence", BroadcastPeriod: 100 * time.Millisecond}
	tr, err := New(ps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i := range n {
		meta := map[string]any{"status": "online", "online_at": 1_700_000_000_000 + i}
		if _, err := tr.Track(owners[i/perOwner], benchTopicNames[i%1000], keys[i], meta); err != nil {
			t.Fatal(err)
		}
	}
	after := steadyHeap(3 * cfg.BroadcastPeriod)
	if f := os.Getenv("PHXGO_HEAPPROFILE"); f != "" {
		out, err := os.Create(fmt.Sprintf("%s.%d", f, perOwner))
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(out); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
	if got := len(tr.List(benchTopicNames[0])); got != n/1000 {
		t.Fatalf("List: %d presences, want %d", got, n/1000)
	}
	runtime.KeepAlive(owners)
	runtime.KeepAlive(keys)
	return float64(after-before) / float64(n)
}
