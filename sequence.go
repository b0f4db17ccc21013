package pubsub

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/pubsub/internal/wire"
)

// outStreams numbers this node's frames, one stream for its broadcasts and one per target node for its
// direct frames (one counter for all would show every receiver a false gap for each frame it was not
// sent). See docs/protocol.md, "Sequence numbers".
type outStreams struct {
	broadcast atomic.Uint64
	routed    routedCounters // the streams of routed broadcasts (TopicRouter)

	mu     sync.Mutex
	direct map[string]*outStream
}

type outStream struct {
	n    atomic.Uint64
	used atomic.Int64 // Unix nanoseconds of the last frame numbered
}

// firstSeq is where a new stream starts counting: the time in milliseconds, shifted left by 20 bits. A
// direct stream forgotten after a long silence (forgetOutAfter) and started again then counts on from
// above where it stopped (unless it sent over a million frames a millisecond), so no receiver sees a
// number twice; and 0 never occurs.
func firstSeq(now time.Time) uint64 { return uint64(now.UnixMilli()) << 20 }

func newOutStreams(now time.Time) *outStreams {
	s := &outStreams{direct: make(map[string]*outStream)}
	s.broadcast.Store(firstSeq(now))
	return s
}

// next returns the next number of the stream of kind (and target, for direct frames; route, for
// broadcasts: -1 when they are not routed).
func (s *outStreams) next(kind wire.Kind, target string, route int) uint64 {
	if kind != wire.KindDirect {
		if route >= 0 {
			return s.routed.next(route)
		}
		return s.broadcast.Add(1)
	}
	now := time.Now()
	s.mu.Lock()
	o := s.direct[target]
	if o == nil {
		o = &outStream{}
		o.n.Store(firstSeq(now))
		s.direct[target] = o
	}
	s.mu.Unlock()
	o.used.Store(now.UnixNano())
	return o.n.Add(1)
}

// forgetOutAfter is how long a direct stream to a node stays in memory after its last frame. It is
// longer than receivers remember a silent stream (forgetInAfter), so a stream started again is new to
// them too.
const forgetOutAfter = 15 * time.Minute

// forget drops the direct streams idle since before cutoff, so that sending to many short-lived node
// names does not grow memory for ever.
func (s *outStreams) forget(cutoff time.Time) {
	c := cutoff.UnixNano()
	s.mu.Lock()
	for target, o := range s.direct {
		if o.used.Load() < c {
			delete(s.direct, target)
		}
	}
	s.mu.Unlock()
}
