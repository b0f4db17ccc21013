package pubsub

import (
	"log/slog"
	"sync"
	"time"
)

// SlowConsumer describes one slow-consumer episode: a subscriber's mailbox overflowed.
type SlowConsumer struct {
	Subscriber   *Subscriber // the subscriber itself: close it, or tell its reader (already closed with CloseOnOverflow)
	SubscriberID uint64
	Dropped      uint64 // the subscriber's Dropped() when the report was made
	MailboxSize  int
}

// slowRecoveryInterval is how often the reporter checks whether subscribers in an episode have
// recovered.
const slowRecoveryInterval = 50 * time.Millisecond

// slowReporter reports slow-consumer episodes on its own goroutine, so that a broadcaster only appends
// to a list (once per episode) and never runs the callback or the logger itself.
//
// An episode begins when a subscriber's mailbox first overflows and ends when the mailbox has drained
// to half its size, which the reporter checks every slowRecoveryInterval while any episode is open.
// The hysteresis keeps a consumer that hovers at its limit from producing a report per message, and
// keeps the broadcast path to a channel send.
type slowReporter struct {
	mu      sync.Mutex
	pending []*Subscriber // episodes begun, not yet reported
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	onSlow  func(SlowConsumer)
	log     *slog.Logger
}

func newSlowReporter(cfg Config) *slowReporter {
	r := &slowReporter{
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		onSlow:  cfg.OnSlowConsumer,
		log:     cfg.Logger,
	}
	if r.onSlow == nil {
		log, name := cfg.Logger, cfg.Name
		r.onSlow = func(e SlowConsumer) {
			log.Warn("pubsub: slow consumer, dropping messages",
				slog.String("pubsub", name), slog.Uint64("subscriber", e.SubscriberID),
				slog.Uint64("dropped", e.Dropped), slog.Int("mailbox_size", e.MailboxSize))
		}
	}
	go r.run()
	return r
}

// report queues s for a report. Called by a broadcaster when s's episode begins.
func (r *slowReporter) report(s *Subscriber) {
	r.mu.Lock()
	r.pending = append(r.pending, s)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *slowReporter) run() {
	defer close(r.stopped)
	var batch, open []*Subscriber // open: episodes reported, not yet over
	tick := time.NewTicker(slowRecoveryInterval)
	tick.Stop()
	defer tick.Stop()
	for {
		select {
		case <-r.wake:
		case <-tick.C:
		case <-r.done:
			r.reportPending() // an episode that began just before Close is still reported
			return
		}
		r.mu.Lock()
		batch, r.pending = r.pending, batch[:0]
		r.mu.Unlock()
		for i, s := range batch {
			r.episode(s)
			open = append(open, s)
			batch[i] = nil
		}
		open = endRecovered(open)
		if len(open) > 0 {
			tick.Reset(slowRecoveryInterval)
		} else {
			tick.Stop()
		}
	}
}

func (r *slowReporter) reportPending() {
	r.mu.Lock()
	pending := r.pending
	r.pending = nil
	r.mu.Unlock()
	for _, s := range pending {
		r.episode(s)
	}
}

// episode handles the start of s's slow-consumer episode: it closes s if its policy says so (here, on
// the reporter's goroutine: a broadcaster holds a registry lock that closing needs), then reports.
func (r *slowReporter) episode(s *Subscriber) {
	if OverflowPolicy(s.policy) == CloseOnOverflow {
		s.close(ErrSlowConsumer)
	}
	r.safeReport(SlowConsumer{Subscriber: s, SubscriberID: s.id, Dropped: s.Dropped(), MailboxSize: s.Cap()})
}

// endRecovered ends the episodes of the subscribers whose mailbox has drained to half, forgets the
// closed ones, and returns the others.
func endRecovered(open []*Subscriber) []*Subscriber {
	kept := open[:0]
	for _, s := range open {
		if s.Len() <= s.Cap()/2 || s.isClosed() {
			s.slow.Store(false)
			continue
		}
		kept = append(kept, s)
	}
	clear(open[len(kept):])
	return kept
}

// safeReport keeps a panicking callback from killing the reporter.
func (r *slowReporter) safeReport(e SlowConsumer) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("pubsub: OnSlowConsumer panicked", slog.Any("panic", v))
		}
	}()
	r.onSlow(e)
}

func (r *slowReporter) stop() {
	close(r.done)
	<-r.stopped
}
