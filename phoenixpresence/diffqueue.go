package phoenixpresence

import (
	"log/slog"
	"sync"

	"github.com/phxgo/pubsub/tracker"
)

// diffQueue calls the Handler on a goroutine of its own, one diff at a time and in order, so that the
// replica never waits for it; a panic is recovered and logged.
type diffQueue struct {
	h    tracker.Handler
	log  *slog.Logger
	mu   sync.Mutex
	q    []map[string]tracker.Diff
	wake chan struct{}
	done chan struct{}
	end  bool
}

func newDiffQueue(h tracker.Handler, log *slog.Logger) *diffQueue {
	q := &diffQueue{h: h, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
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
	q.mu.Unlock()
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
		q.q = nil
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
