package pubsub

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/phxgo/pubsub/internal/replay"
	"github.com/phxgo/pubsub/internal/wire"
)

// Receiving side of the sequence numbers (docs/protocol.md, "Sequence numbers" and "Replay"): one
// replay window per stream, a stream being one sender incarnation's broadcasts, or its direct frames
// to this node.
const (
	// reorderGrace is how long a missing number may stay missing before it is reported lost: frames of
	// concurrent broadcasters may overtake each other on their way to the wire.
	reorderGrace = 500 * time.Millisecond
	// forgetInAfter is how long a silent stream is remembered. Signed frames older than maxFrameAge
	// are refused anyway, so forgetting a stream never reopens it to replays.
	forgetInAfter = 10 * time.Minute
	// maxFrameAge is the age beyond which a signed frame is refused as stale (plus Config.ClockSkew).
	// Redis disconnects a subscriber that falls 60 s behind (client-output-buffer-limit pubsub), so no
	// genuine frame is delivered older than that.
	maxFrameAge = time.Minute
	// maxStreams bounds the streams remembered; beyond it the longest-silent is forgotten. Only forged
	// unsigned frames (random incarnations) come near it.
	maxStreams = 4096
	// sweepInterval is how often holes are checked against reorderGrace and silent streams forgotten.
	sweepInterval = 100 * time.Millisecond
)

type streamKey struct {
	incarnation [16]byte
	direct      bool
}

type inStream struct {
	w      replay.Window
	origin string // the sender's name, for gap reports
	seen   int64  // Unix nanoseconds of its last frame
}

type inStreams struct {
	mu     sync.Mutex
	m      map[streamKey]*inStream
	routed routedStreams // the streams of routed broadcasts, by route
}

// verdict is what observe decided about a frame.
type verdict uint8

const (
	accept    verdict = iota // deliver
	reordered                // deliver: late, but never seen
	rebased                  // deliver: an unsigned stream restarted far below its window
	duplicate                // drop: seen already
	tooOld                   // drop: a signed frame below the window
)

// observe records f's number and returns the verdict and, when frames of its stream were given up for
// lost, a reason to report as a gap (nil otherwise). signed says whether frames are authenticated: an
// unsigned stream is reset by a frame far below its window (a forged number far ahead must not
// silence the sender), a signed one refuses it (a replay).
//
// route is the frame's route (TopicRouter): -1 for a direct frame or a broadcast that reaches every
// node, whose stream is the sender's broadcast (or direct) stream; else the stream is the sender's
// broadcasts on that route (see routedStreams).
func (s *inStreams) observe(f *wire.Frame, route int, signed bool, now time.Time) (verdict, error) {
	nanos := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	var st *inStream
	if route >= 0 {
		st = s.routed.stream(route, f)
	} else {
		key := streamKey{f.Incarnation, f.Kind == wire.KindDirect}
		st = s.m[key]
		if st == nil {
			if len(s.m) >= maxStreams {
				s.evictOldest()
			}
			st = &inStream{origin: strings.Clone(f.Origin)} // f.Origin aliases the frame: do not keep it alive
			s.m[key] = st
		}
	}
	st.seen = nanos
	v, lost := st.w.Observe(f.Seq, nanos)
	if route >= 0 && st.w.Holes() > 0 {
		s.routed.holed(route, f.Incarnation, st)
	}
	var gap error
	if lost > 0 {
		gap = lostFrames(lost, st.origin)
	}
	switch v {
	case replay.Next:
		return accept, gap
	case replay.Late:
		return reordered, gap
	case replay.Duplicate:
		return duplicate, gap
	}
	if signed {
		return tooOld, gap
	}
	st.w.Reset(f.Seq)
	return rebased, gap
}

func lostFrames(n uint64, origin string) error {
	return fmt.Errorf("pubsub: %d frames from node %q never arrived", n, origin)
}

// evictOldest forgets the stream silent the longest. Called with mu held.
func (s *inStreams) evictOldest() {
	var oldest streamKey
	first := true
	var at int64
	for k, st := range s.m {
		if first || st.seen < at {
			oldest, at, first = k, st.seen, false
		}
	}
	delete(s.m, oldest)
}

// lostGap is a loss found by sweep: frames of a stream of route (-1: not routed) given up for lost.
type lostGap struct {
	route  int
	reason error
}

// sweep gives up for lost the holes open longer than reorderGrace, and forgets streams silent longer
// than forgetInAfter. It returns a gap per stream that lost frames.
func (s *inStreams) sweep(now time.Time) []lostGap {
	var gaps []lostGap
	deadline := now.Add(-reorderGrace).UnixNano()
	forget := now.Add(-forgetInAfter).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, st := range s.m {
		if lost := st.w.Expire(deadline); lost > 0 {
			gaps = append(gaps, lostGap{-1, lostFrames(lost, st.origin)})
		}
		if st.seen < forget {
			delete(s.m, k)
		}
	}
	return s.routed.sweep(gaps, deadline, forget)
}

// sweeper runs sweep every sweepInterval until stop is closed, and reports the gaps it finds.
func (ps *PubSub) sweeper(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	lastOut := time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			ps.clock.Store(now.UnixNano())
			for _, gap := range ps.in.sweep(now) {
				ps.stats.gaps.Add(1)
				ps.handleScopedGap(ps.scopeOf(gap.route), gap.reason)
			}
			if now.Sub(lastOut) > time.Minute {
				lastOut = now
				ps.out.forget(now.Add(-forgetOutAfter))
			}
		}
	}
}
