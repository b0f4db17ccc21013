package pubsub

import (
	"cmp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/pubsub/internal/wire"
)

// Routed streams (docs/protocol.md, "Routed streams"). With a TopicRouter a receiver sees only the
// routes it subscribes to, so one sequence for all of a sender's broadcasts would show it every frame
// of the other routes as lost. A sender numbers its broadcasts per route instead, and a receiver keeps
// one replay window per (sender incarnation, route) it receives, which it forgets when it stops
// receiving the route (RoutedHost.ForgetRoute). A loss is then reported as a gap scoped to the route.

// routeChunk is how many routes share one lazily allocated block of counters: a node that broadcasts on
// a few topics allocates a few blocks (8 KiB each), not one counter per route.
const routeChunk = 1024

// routedCounters numbers a sender's broadcasts per route.
type routedCounters struct {
	mu     sync.Mutex
	chunks atomic.Pointer[[]atomic.Pointer[[routeChunk]atomic.Uint64]] // grown under mu
}

// next returns the next number of route's stream. A route's first number is firstSeq of the moment its
// block was allocated, so a stream never restarts below where a receiver saw it.
func (c *routedCounters) next(route int) uint64 {
	i, j := route/routeChunk, route%routeChunk
	if chunks := c.chunks.Load(); chunks != nil && i < len(*chunks) {
		if b := (*chunks)[i].Load(); b != nil {
			return b[j].Add(1)
		}
	}
	return c.grow(i)[j].Add(1)
}

// grow allocates the block of counters i (and the index up to it).
func (c *routedCounters) grow(i int) *[routeChunk]atomic.Uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	chunks := c.chunks.Load()
	if chunks == nil || i >= len(*chunks) {
		bigger := make([]atomic.Pointer[[routeChunk]atomic.Uint64], i+1)
		if chunks != nil {
			for k := range *chunks {
				bigger[k].Store((*chunks)[k].Load())
			}
		}
		chunks = &bigger
		c.chunks.Store(chunks)
	}
	if b := (*chunks)[i].Load(); b != nil {
		return b
	}
	b := new([routeChunk]atomic.Uint64)
	start := firstSeq(time.Now())
	for k := range b {
		b[k].Store(start)
	}
	(*chunks)[i].Store(b)
	return b
}

// maxRoutedStreams bounds the routed streams a receiver remembers: 8 senders on 32,768 routes each. A
// genuine cluster stays far below (a node receives the routes of its own topics); beyond it a route is
// forgotten whole (its next frames start afresh: no false gap, only a hole that goes unreported). Only
// forged unsigned frames (random incarnations) come near it.
const maxRoutedStreams = 1 << 18

// routedStreams are a receiver's replay windows of routed broadcasts, by route then sender incarnation.
// Guarded by inStreams.mu.
//
// A node receives thousands of routes, and most streams have no hole most of the time, so the sweep
// (every sweepInterval) looks only at the streams with holes (holes), and at all of them only every
// forgetSweeps sweeps, to forget the silent ones.
type routedStreams struct {
	routes map[int][]routedSender // a route has a few senders: a slice scanned beats a map of maps
	n      int                    // streams in routes
	holes  map[routedKey]*inStream
	sweeps int
	max    int // maxRoutedStreams, or less in tests
}

type routedSender struct {
	incarnation [16]byte
	st          *inStream
}

type routedKey struct {
	route       int
	incarnation [16]byte
}

// forgetSweeps is how often (in sweeps) routed streams are checked for silence: every 10 s, against
// forgetInAfter's 10 minutes.
const forgetSweeps = 100

// holed notes that st, the stream of incarnation on route, has holes, so that sweep expires them.
func (r *routedStreams) holed(route int, incarnation [16]byte, st *inStream) {
	if r.holes == nil {
		r.holes = make(map[routedKey]*inStream)
	}
	r.holes[routedKey{route, incarnation}] = st
}

// stream returns the stream of f's sender on route, made on its first frame.
func (r *routedStreams) stream(route int, f *wire.Frame) *inStream {
	if r.routes == nil {
		r.routes = make(map[int][]routedSender)
	}
	senders := r.routes[route]
	for i := range senders {
		if senders[i].incarnation == f.Incarnation {
			return senders[i].st
		}
	}
	if limit := cmp.Or(r.max, maxRoutedStreams); r.n >= limit {
		r.evictRoute(route)
		senders = r.routes[route]
	}
	st := &inStream{origin: strings.Clone(f.Origin)} // f.Origin aliases the frame
	r.routes[route] = append(senders, routedSender{f.Incarnation, st})
	r.n++
	return st
}

// evictRoute forgets the streams of a route other than keep (the first the map yields, which is
// random), or of keep itself when it is the only one.
func (r *routedStreams) evictRoute(keep int) {
	victim := keep
	for route := range r.routes {
		if route != keep {
			victim = route
			break
		}
	}
	r.forget(victim)
}

// forget drops the streams of route.
func (r *routedStreams) forget(route int) {
	for _, s := range r.routes[route] {
		delete(r.holes, routedKey{route, s.incarnation})
	}
	r.n -= len(r.routes[route])
	delete(r.routes, route)
}

// sweep appends to gaps the losses of routed streams whose holes are older than deadline, and forgets
// streams silent since before forget.
func (r *routedStreams) sweep(gaps []lostGap, deadline, forget int64) []lostGap {
	for k, st := range r.holes {
		if lost := st.w.Expire(deadline); lost > 0 {
			gaps = append(gaps, lostGap{k.route, lostFrames(lost, st.origin)})
		}
		if st.w.Holes() == 0 {
			delete(r.holes, k)
		}
	}
	if r.sweeps++; r.sweeps%forgetSweeps != 0 {
		return gaps
	}
	for route, senders := range r.routes {
		kept := senders[:0]
		for _, s := range senders {
			if s.st.seen < forget {
				delete(r.holes, routedKey{route, s.incarnation})
				r.n--
				continue
			}
			kept = append(kept, s)
		}
		clear(senders[len(kept):])
		if len(kept) == 0 {
			delete(r.routes, route)
		} else {
			r.routes[route] = kept
		}
	}
	return gaps
}

// forgetRoute drops the windows of route (all routes for -1): see RoutedHost.ForgetRoute.
func (s *inStreams) forgetRoute(route int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if route < 0 {
		s.routed = routedStreams{sweeps: s.routed.sweeps, max: s.routed.max}
		return
	}
	s.routed.forget(route)
}
