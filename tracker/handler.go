package tracker

import (
	"log/slog"
	"sync"
)

// Handler receives a tracker's diffs, grouped by topic: Phoenix.Tracker's handle_diff.
//
// HandleDiff runs on a goroutine of its own per tracker, never on the replication path: calls come one at
// a time, in the order the changes happened, and a slow handler delays only later calls (diffs queue for
// it; none is dropped or reordered). A panic in HandleDiff is recovered and logged, and the next diff is
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
// path only appends to the queue (never waits for the handler), and no diff is dropped or reordered.
type diffQueue struct {
	h   Handler
	log *slog.Logger

	mu      sync.Mutex
	pending []map[string]Diff
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
}

func newDiffQueue(h Handler, log *slog.Logger) *diffQueue {
	q := &diffQueue{h: h, log: log, wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go q.run()
	return q
}

// push queues a diff for the handler. Empty diffs are not queued: the handler never sees one.
func (q *diffQueue) push(diff map[string]Diff) {
	if len(diff) == 0 || q.h == nil {
		return
	}
	q.mu.Lock()
	q.pending = append(q.pending, diff)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *diffQueue) run() {
	defer close(q.stopped)
	var batch []map[string]Diff
	for {
		select {
		case <-q.wake:
		case <-q.done:
			return
		}
		for {
			q.mu.Lock()
			batch, q.pending = q.pending, batch[:0]
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

func (q *diffQueue) call(d map[string]Diff) {
	defer func() {
		if v := recover(); v != nil {
			q.log.Error("tracker: HandleDiff panicked; replication goes on", slog.Any("panic", v))
		}
	}()
	q.h.HandleDiff(d)
}

// close stops the queue; diffs not yet handled are dropped (the tracker is gone).
func (q *diffQueue) close() {
	close(q.done)
	<-q.stopped
}
