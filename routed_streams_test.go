package pubsub

import (
	"testing"
	"time"

	"github.com/phxgo/pubsub/internal/wire"
)

func routedFrame(inc byte, seq uint64) *wire.Frame {
	return &wire.Frame{Kind: wire.KindBroadcast, Origin: "n" + string(rune('0'+inc)), Incarnation: [16]byte{inc}, Seq: seq}
}

// Routed streams are kept per (route, sender), forgotten by route, by silence, and bounded.
func TestRoutedStreamsBookkeeping(t *testing.T) {
	var s inStreams
	s.m = make(map[streamKey]*inStream)
	now := time.Now()
	for route := range 4 {
		for inc := range byte(3) {
			if v, gap := s.observe(routedFrame(inc, 100), route, false, now); v != accept || gap != nil {
				t.Fatalf("first frame: %v %v", v, gap)
			}
		}
	}
	if s.routed.n != 12 || len(s.routed.routes) != 4 {
		t.Fatalf("%d streams on %d routes, want 12 on 4", s.routed.n, len(s.routed.routes))
	}
	// A hole on route 1 from sender 2: expired by the sweep after the grace, and scoped to route 1.
	s.observe(routedFrame(2, 102), 1, false, now)
	if len(s.routed.holes) != 1 {
		t.Fatalf("%d streams with holes, want 1", len(s.routed.holes))
	}
	gaps := s.sweep(now.Add(reorderGrace + time.Millisecond))
	if len(gaps) != 1 || gaps[0].route != 1 {
		t.Fatalf("gaps %+v, want one on route 1", gaps)
	}
	if len(s.routed.holes) != 0 {
		t.Errorf("the expired hole is still watched")
	}
	s.forgetRoute(1)
	if s.routed.n != 9 || s.routed.routes[1] != nil {
		t.Fatalf("after forgetting route 1: %d streams", s.routed.n)
	}
	// Silent streams go after forgetInAfter, checked every forgetSweeps sweeps.
	s.observe(routedFrame(0, 101), 0, false, now.Add(forgetInAfter))
	later := now.Add(forgetInAfter + time.Second)
	for range forgetSweeps {
		s.sweep(later)
	}
	if s.routed.n != 1 || len(s.routed.routes[0]) != 1 {
		t.Fatalf("after the silence: %d streams, route 0 has %d", s.routed.n, len(s.routed.routes[0]))
	}
	s.forgetRoute(-1)
	if s.routed.n != 0 || len(s.routed.routes) != 0 {
		t.Fatalf("after forgetting every route: %d streams", s.routed.n)
	}
	// Bounded: beyond max a route is forgotten whole.
	s.routed.max = 10
	for route := range 20 {
		s.observe(routedFrame(0, 1), route, false, now)
	}
	if s.routed.n > 10 {
		t.Fatalf("%d streams, bound 10", s.routed.n)
	}
}

func TestRoutedCounters(t *testing.T) {
	var c routedCounters
	a0, b0 := c.next(5), c.next(routeChunk*3+1)
	if a1 := c.next(5); a1 != a0+1 {
		t.Errorf("route 5: %d then %d", a0, a1)
	}
	if b1 := c.next(routeChunk*3 + 1); b1 != b0+1 {
		t.Errorf("route %d: %d then %d", routeChunk*3+1, b0, b1)
	}
	if a0 < firstSeq(time.Now().Add(-time.Minute)) {
		t.Errorf("a route starts at %d, below firstSeq", a0)
	}
	if n := len(*c.chunks.Load()); n != 4 {
		t.Errorf("%d blocks indexed, want 4", n)
	}
	if allocs := testing.AllocsPerRun(100, func() { c.next(5) }); allocs != 0 {
		t.Errorf("next allocates %v", allocs)
	}
}

// Numbers of one route are unique under concurrent use, while other routes' blocks are allocated.
func TestRoutedCountersConcurrent(t *testing.T) {
	var c routedCounters
	const goroutines, each = 8, 1000
	seen := make(chan uint64, goroutines*each)
	done := make(chan struct{})
	for g := range goroutines {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				seen <- c.next(7)
				c.next(routeChunk * (1 + (g*each+i)%32))
			}
		}()
	}
	for range goroutines {
		<-done
	}
	close(seen)
	uniq := make(map[uint64]bool)
	for n := range seen {
		if uniq[n] {
			t.Fatalf("number %d given twice", n)
		}
		uniq[n] = true
	}
}
