package phoenixpresence

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/phxgo/pubsub/tracker"
)

// diffQueue calls the Handler on a goroutine of its own, one diff at a time and in order, so that the
// replica never waits for it; a panic is recovered and logged. It holds at most max presences: past
// that, the oldest diffs are dropped and counted, so a handler that stalls costs bounded memory.
type diffQueue struct {
	h       tracker.Handler
	log     *slog.Logger
	max     int
	dropped *atomic.Uint64
	mu      sync.Mutex
	q       []map[string]tracker.Diff
	size    int // presences in q
	wake    chan struct{}
	done    chan struct{}
	end     bool
}

func diffSize(d map[string]tracker.Diff) int {
	n := 0
	for _, x := range d {
		n += len(x.Joins) + len(x.Leaves)
	}
	return n
}

func newDiffQueue(h tracker.Handler, log *slog.Logger, max int, dropped *atomic.Uint64) *diffQueue {
	q := &diffQueue{h: h, log: log, max: max, dropped: dropped, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if h == nil {
		close(q.done)
		return q
	}
	go q.run()
	return q
}

func (q *diffQueue) push(d map[string]tracker.Diff) {
	q.mu.Lock()
	q.q = append(q.q, d)
	q.size += diffSize(d)
	lost := 0
	for q.size > q.max && len(q.q) > 1 {
		n := diffSize(q.q[0])
		q.q[0] = nil
		q.q = q.q[1:]
		q.size -= n
		lost += n
	}
	q.mu.Unlock()
	if lost > 0 {
		q.dropped.Add(uint64(lost))
		q.log.Warn("phoenixpresence: the handler is too slow; dropped the oldest diffs", slog.Int("presences", lost))
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *diffQueue) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		batch, end := q.q, q.end
		q.q, q.size = nil, 0
		q.mu.Unlock()
		for _, d := range batch {
			q.call(d)
		}
		if end && len(batch) == 0 {
			return
		}
		if len(batch) == 0 {
			<-q.wake
		}
	}
}

func (q *diffQueue) call(d map[string]tracker.Diff) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("phoenixpresence: the handler panicked", slog.Any("panic", r))
		}
	}()
	q.h.HandleDiff(d)
}

// close delivers what is queued, then stops the goroutine.
func (q *diffQueue) close() {
	if q.h == nil {
		return
	}
	q.mu.Lock()
	q.end = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	<-q.done
}
