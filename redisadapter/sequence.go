package redisadapter

import (
	"time"

	"github.com/phxgo/pubsub/internal/wire"
)

// sequences follows the sequence numbers of every other node's frames, per incarnation and per stream
// (its broadcasts; its direct frames to us), to notice frames lost between that node and us.
type sequences struct {
	origins map[[16]byte]*origin
	lastGC  time.Time
}

type origin struct {
	broadcast, direct uint64
	seen              time.Time
}

// forgetAfter is how long a silent incarnation is remembered. A node that is silent longer than that and
// then speaks again starts a fresh stream, without a gap report.
const forgetAfter = 10 * time.Minute

func newSequences() sequences { return sequences{origins: make(map[[16]byte]*origin)} }

// observe records f's sequence number and reports whether frames were lost before it. A sequence that
// goes backwards starts a new stream (the sender forgot its counter), not a gap.
func (s *sequences) observe(f wire.Frame) (gap bool) {
	if f.Seq == 0 {
		return false
	}
	if s.origins == nil {
		s.origins = make(map[[16]byte]*origin)
	}
	now := time.Now()
	o := s.origins[f.Incarnation]
	if o == nil {
		s.gc(now)
		o = &origin{}
		s.origins[f.Incarnation] = o
	}
	o.seen = now
	last := &o.broadcast
	if f.Kind == wire.KindDirect {
		last = &o.direct
	}
	gap = *last != 0 && f.Seq > *last+1
	*last = f.Seq
	return gap
}

// gc forgets incarnations silent for longer than forgetAfter, at most once a minute.
func (s *sequences) gc(now time.Time) {
	if now.Sub(s.lastGC) < time.Minute {
		return
	}
	s.lastGC = now
	for id, o := range s.origins {
		if now.Sub(o.seen) > forgetAfter {
			delete(s.origins, id)
		}
	}
}

// reset forgets every stream: after a reconnect, whose gap is reported once for all.
func (s *sequences) reset() { clear(s.origins) }
