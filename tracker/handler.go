package tracker

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// Handler receives a tracker's diffs, grouped by topic: Phoenix.Tracker's handle_diff.
//
// HandleDiff runs on a goroutine of its own per tracker, never on the replication path: calls come one at
// a time, in the order the changes happened, and a slow handler delays only later calls (diffs queue for
// it, in order). The queue is bounded by Config.MaxPendingDiffs presences: past it, the waiting diffs are
// coalesced into one net diff per topic (what changed between the last diff handled and now: a presence
// that joined and left meanwhile is in neither list), counted in Stats.CoalescedDiffs. A panic in HandleDiff is recovered and logged, and the next diff is
// delivered as usual. The map and its slices belong to the handler.
//
// The handler runs on every node, each for the same diffs (every replica sees every change). So a
// handler that tells subscribers about presence changes must use PubSub.LocalBroadcast, as Phoenix's
// handle_diff does with local_broadcast: with Broadcast, each subscriber would get the diff once per
// node.
type Handler interface {
	HandleDiff(diff map[string]Diff)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(diff map[string]Diff)

// HandleDiff calls f(diff).
func (f HandlerFunc) HandleDiff(diff map[string]Diff) { f(diff) }

// diffQueue runs the Handler on a goroutine of its own, in order, with panic isolation: the replication
// path only appends to the queue (never waits for the handler). The queue is bounded: when the presences
// in waiting diffs exceed max, the waiting diffs are coalesced into one net diff per topic (a presence that
// joined and left meanwhile disappears from it; one that left and joined again too, unchanged, since it is
// the same presence with the same ref and meta), counted in coalesced. A net diff holds at most the
// presences that were visible before it or are visible after it, so the queue stays within the size of
// the state, however slow the handler.
type diffQueue struct {
	h         Handler
	log       *slog.Logger
	max       int
	coalesced *atomic.Uint64

	mu      sync.Mutex
	pending []diffBuilder
	count   int // presences in pending
	floor   int // count after the last coalescing: coalesce again only past max and twice this
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
}

func newDiffQueue(h Handler, log *slog.Logger, max int, coalesced *atomic.Uint64) *diffQueue {
	q := &diffQueue{h: h, log: log, max: max, coalesced: coalesced, wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go q.run()
	return q
}

// push queues a diff for the handler. Empty diffs are not queued: the handler never sees one.
func (q *diffQueue) push(diff diffBuilder) {
	if len(diff) == 0 || q.h == nil {
		return
	}
	q.mu.Lock()
	q.pending = append(q.pending, diff)
	q.count += diff.size()
	if q.count > q.max && q.count > 2*q.floor {
		q.pending = []diffBuilder{coalesceDiffs(q.pending)}
		q.count = q.pending[0].size()
		q.floor = q.count
		if len(q.pending[0]) == 0 {
			q.pending = nil
		}
		q.coalesced.Add(1)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// presenceID identifies one presence (one tag) in diffs: its ref is new at every track and update. The
// ref is the value's refID when it holds one (no string rendered), otherwise the "phx_ref" of its meta:
// a ref in the canonical format is always held as a refID, so the two never name the same ref.
type presenceID struct {
	replica, owner, key string
	ref                 refID
	metaRef             string
}

func idOf(v *value) presenceID {
	if v.ref.ok {
		return presenceID{replica: v.tag.replica.Name, owner: v.owner, key: v.key, ref: v.ref}
	}
	return presenceID{replica: v.tag.replica.Name, owner: v.owner, key: v.key, metaRef: v.refString()}
}

// coalesceDiffs returns the net diff of diffs, in order: per topic, a presence with an odd number of
// events keeps its first (a join or a leave: events of one presence alternate), one with an even number
// disappears. A presence both joining and leaving within one diff (a replica up and a remove merged at
// once) cancels out there.
func coalesceDiffs(diffs []diffBuilder) diffBuilder {
	type net struct {
		n    int
		join bool
		v    *value
	}
	topics := make(map[string]map[presenceID]*net)
	for _, d := range diffs {
		for topic, td := range d {
			ids := topics[topic]
			if ids == nil {
				ids = make(map[presenceID]*net)
				topics[topic] = ids
			}
			var both map[presenceID]bool
			if len(td.joins) > 0 && len(td.leaves) > 0 {
				leaving := make(map[presenceID]bool, len(td.leaves))
				for _, v := range td.leaves {
					leaving[idOf(v)] = true
				}
				for _, v := range td.joins {
					if id := idOf(v); leaving[id] {
						if both == nil {
							both = make(map[presenceID]bool)
						}
						both[id] = true
					}
				}
			}
			rec := func(v *value, join bool) {
				id := idOf(v)
				if both[id] {
					return
				}
				e := ids[id]
				if e == nil {
					e = &net{join: join, v: v}
					ids[id] = e
				}
				e.n++
			}
			for _, v := range td.leaves {
				rec(v, false)
			}
			for _, v := range td.joins {
				rec(v, true)
			}
		}
	}
	out := make(diffBuilder)
	for topic, ids := range topics {
		var td valueDiff
		for _, e := range ids {
			switch {
			case e.n%2 == 0:
			case e.join:
				td.joins = append(td.joins, e.v)
			default:
				td.leaves = append(td.leaves, e.v)
			}
		}
		if len(td.joins)+len(td.leaves) > 0 {
			out[topic] = &td
		}
	}
	return out
}

func (q *diffQueue) run() {
	defer close(q.stopped)
	var batch []diffBuilder
	for {
		select {
		case <-q.wake:
		case <-q.done:
			return
		}
		for {
			q.mu.Lock()
			batch, q.pending = q.pending, batch[:0]
			q.count, q.floor = 0, 0
			q.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for i, d := range batch {
				q.call(d)
				batch[i] = nil
			}
		}
	}
}

func (q *diffQueue) call(d diffBuilder) {
	defer func() {
		if v := recover(); v != nil {
			q.log.Error("tracker: HandleDiff panicked; replication goes on", slog.Any("panic", v))
		}
	}()
	q.h.HandleDiff(d.render()) // rendered here, off the shard
}

// close stops the queue; diffs not yet handled are dropped (the tracker is gone).
func (q *diffQueue) close() {
	close(q.done)
	<-q.stopped
}
