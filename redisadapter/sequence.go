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
	epoch   uint64 // bumped by resync
}

type origin struct {
	broadcast, direct uint64
	seen              time.Time
	epoch             uint64
}

// forgetAfter is how long a silent incarnation is remembered. A node that is silent longer than that and
// then speaks again starts a fresh stream, without a gap report.
const forgetAfter = 10 * time.Minute

// observe records f's sequence number and reports whether frames were lost before it (gap), or whether
// f was seen already (dup: a sender never reuses a number within an incarnation, so an old number is a
// PUBLISH that a client retried after Redis had carried it out).
func (s *sequences) observe(f wire.Frame) (gap, dup bool) {
	if f.Seq == 0 {
		return false, false
	}
	if s.origins == nil {
		s.origins = make(map[[16]byte]*origin)
	}
	now := time.Now()
	o := s.origins[f.Incarnation]
	if o == nil {
		s.gc(now)
		o = &origin{epoch: s.epoch}
		s.origins[f.Incarnation] = o
	}
	o.seen = now
	last := &o.broadcast
	if f.Kind == wire.KindDirect {
		last = &o.direct
	}
	if *last != 0 && f.Seq <= *last {
		return false, true
	}
	gap = *last != 0 && f.Seq > *last+1 && o.epoch == s.epoch
	*last, o.epoch = f.Seq, s.epoch
	return gap, false
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

// resync follows a reconnect, whose gap is reported once for all: the next jump of each stream is not
// reported again, but every stream keeps its last number, so retried duplicates are still caught.
func (s *sequences) resync() { s.epoch++ }
