package redisadapter

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/phxgo/pubsub"
)

// bucketTable keeps the node's subscriptions to buckets (Config.RouteByTopic) in line with the topics
// its subscribers hold. The PubSub reports each topic's first and last local subscription (Interest)
// with a registry lock held, so recording it must never wait: Interest only counts topics per bucket
// and queues the bucket; a goroutine of the table's own (run) sends the SUBSCRIBEs and UNSUBSCRIBEs,
// batched, on the live subscription's connection. A bucket whose last topic went stays subscribed for
// Config.RouteLinger, so that churn on a topic costs Redis nothing.
//
// The state of a bucket is what was sent on the live connection: subscribed says whether the last
// command was SUBSCRIBE, pending how many commands Redis has not confirmed yet (Redis answers in
// order). A bucket is effective (its broadcasts reach this node) when subscribed with nothing pending.
// A new connection starts every bucket afresh (attach).
type bucketTable struct {
	routes *routes
	linger int64 // nanoseconds
	host   pubsub.RoutedHost
	stats  *counters
	log    *slog.Logger

	mu        sync.Mutex
	table     map[int]*bucket
	dirty     []int         // buckets to look at: a first topic came (bucket.queued)
	lingering []lingerEntry // buckets whose last topic went, oldest first, from lingerHead on
	lingerAt  int           // index of the oldest entry of lingering
	conn      subscription  // the live subscription; nil while there is none
	closed    bool

	wake    chan struct{} // capacity 1
	closing chan struct{}
	done    chan struct{}
}

// bucket is the state of one bucket that a local topic holds, or that is subscribed or being
// unsubscribed. Its size is what a node spends per bucket (with its map entry, under 100 bytes).
type bucket struct {
	topics     int32         // local topics held in the bucket
	pending    int32         // commands sent on the live connection and not yet confirmed
	subscribed bool          // the last command sent was SUBSCRIBE
	queued     bool          // in dirty
	idle       int64         // Unix nanoseconds when topics last fell to 0
	ready      chan struct{} // closed when the bucket becomes effective; nil until someone waits
}

func (b *bucket) effective() bool { return b.subscribed && b.pending == 0 }

type lingerEntry struct {
	bucket int
	idle   int64
}

// maxChannelsPerCommand bounds the channels of one SUBSCRIBE or UNSUBSCRIBE: Redis then spends a bounded
// time on each, and the confirmations of one command do not fill its output buffer at once.
const maxChannelsPerCommand = 512

func newBucketTable(a *Adapter, host pubsub.RoutedHost) *bucketTable {
	t := &bucketTable{
		routes:  a.routes,
		linger:  int64(a.cfg.RouteLinger),
		host:    host,
		stats:   &a.stats,
		log:     a.log,
		table:   make(map[int]*bucket),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	go t.run()
	return t
}

func (t *bucketTable) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// interest records that topic gained its first local subscription, or lost its last. It never waits
// for anything but the table's lock, which no one holds during I/O.
func (t *bucketTable) interest(topic string, interested bool) {
	b := t.routes.route(topic)
	if b < 0 {
		return
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	bk := t.table[b]
	wake := false
	if interested {
		if bk == nil {
			bk = &bucket{}
			t.table[b] = bk
		}
		bk.topics++
		if bk.topics == 1 && !bk.subscribed && !bk.queued {
			bk.queued = true
			t.dirty = append(t.dirty, b)
			wake = true
		}
	} else if bk != nil && bk.topics > 0 {
		bk.topics--
		if bk.topics == 0 {
			bk.idle = time.Now().UnixNano()
			t.lingering = append(t.lingering, lingerEntry{b, bk.idle})
			wake = len(t.lingering)-t.lingerAt == 1 // the first to linger: run arms its timer
			if !bk.subscribed && !bk.queued {
				bk.queued = true // never subscribed: forget it at once
				t.dirty = append(t.dirty, b)
				wake = true
			}
		}
	}
	t.mu.Unlock()
	if wake {
		t.poke()
	}
}

// await returns once bucket b is effective, or with ctx's error, or pubsub.ErrClosed.
func (t *bucketTable) await(ctx context.Context, b int) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return pubsub.ErrClosed
	}
	bk := t.table[b]
	if bk == nil || bk.topics == 0 {
		t.mu.Unlock()
		return fmt.Errorf("redisadapter: no local subscription holds bucket %d", b)
	}
	if t.conn != nil && bk.effective() {
		t.mu.Unlock()
		return nil
	}
	if bk.ready == nil {
		bk.ready = make(chan struct{})
	}
	ready := bk.ready
	t.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.closing:
		return pubsub.ErrClosed
	}
}

// confirmed handles Redis's confirmation of a SUBSCRIBE (subscribed) or UNSUBSCRIBE of bucket b's
// channel on the live connection. Called by the read loop, in the order Redis answered.
func (t *bucketTable) confirmed(b int, subscribed bool) {
	t.mu.Lock()
	bk := t.table[b]
	if bk == nil || bk.pending == 0 {
		t.mu.Unlock()
		t.stats.routeUnexpected.Add(1)
		return
	}
	bk.pending--
	if bk.pending == 0 {
		switch {
		case bk.subscribed:
			if bk.ready != nil {
				close(bk.ready)
				bk.ready = nil
			}
		case bk.topics == 0 && !bk.queued:
			delete(t.table, b)
		case bk.topics > 0 && !bk.queued: // a topic came back while the UNSUBSCRIBE was on its way
			bk.queued = true
			t.dirty = append(t.dirty, b)
			t.poke()
		}
	}
	t.mu.Unlock()
	if !subscribed {
		// Nothing more of b arrives on this connection: its next frames start each sender's stream
		// afresh, rather than show what was sent meanwhile as lost.
		t.host.ForgetRoute(b)
	}
}

// attach makes sub the live subscription (a new connection, which has no bucket subscribed): every
// bucket a local topic holds is subscribed again, the others are forgotten.
func (t *bucketTable) attach(sub subscription) {
	t.mu.Lock()
	t.conn = sub
	t.dirty = t.dirty[:0]
	t.lingering, t.lingerAt = nil, 0
	for b, bk := range t.table {
		bk.pending, bk.subscribed, bk.queued = 0, false, false
		if bk.topics == 0 {
			delete(t.table, b)
			continue
		}
		bk.queued = true
		t.dirty = append(t.dirty, b)
	}
	t.mu.Unlock()
	t.host.ForgetRoute(-1)
	t.poke()
}

// detach forgets the live subscription, which failed: nothing is sent until the next attach.
func (t *bucketTable) detach() {
	t.mu.Lock()
	t.conn = nil
	t.mu.Unlock()
}

// close stops the table's goroutine; waiters return pubsub.ErrClosed, and interest is ignored.
func (t *bucketTable) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		<-t.done
		return
	}
	t.closed, t.conn = true, nil
	close(t.closing)
	t.mu.Unlock()
	<-t.done
}

// run sends the commands that interest and the linger call for, until close.
func (t *bucketTable) run() {
	defer close(t.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-t.closing:
			return
		case <-t.wake:
		case <-timer.C:
		}
		if next := t.reconcile(); next > 0 {
			timer.Reset(next)
		}
	}
}

// reconcile sends the SUBSCRIBEs of the queued buckets and the UNSUBSCRIBEs of the buckets that
// lingered long enough, and returns when the next bucket ends its linger (0: none lingers).
func (t *bucketTable) reconcile() time.Duration {
	var subs, unsubs []string
	t.mu.Lock()
	conn := t.conn
	if conn == nil {
		t.mu.Unlock()
		return 0 // attach queues everything again
	}
	for _, b := range t.dirty {
		bk := t.table[b]
		if bk == nil || !bk.queued {
			continue
		}
		bk.queued = false
		switch {
		case bk.topics > 0 && !bk.subscribed:
			bk.subscribed = true
			bk.pending++
			name, _ := t.routes.channel(b)
			subs = append(subs, name)
		case bk.topics == 0 && !bk.subscribed && bk.pending == 0:
			delete(t.table, b)
		}
	}
	clear(t.dirty)
	t.dirty = t.dirty[:0]
	now := time.Now().UnixNano()
	var next time.Duration
	for t.lingerAt < len(t.lingering) {
		e := t.lingering[t.lingerAt]
		if wait := e.idle + t.linger - now; wait > 0 {
			next = time.Duration(wait)
			break
		}
		t.lingerAt++
		bk := t.table[e.bucket]
		if bk == nil || bk.topics > 0 || bk.idle != e.idle || !bk.subscribed {
			continue // held again, or never subscribed, or a later linger of it is queued
		}
		bk.subscribed = false
		bk.pending++
		name, _ := t.routes.channel(e.bucket)
		unsubs = append(unsubs, name)
	}
	if t.lingerAt > 1024 && t.lingerAt*2 > len(t.lingering) { // give back the consumed head
		t.lingering = append(t.lingering[:0:0], t.lingering[t.lingerAt:]...)
		t.lingerAt = 0
	}
	t.mu.Unlock()

	t.stats.routeSubscribes.Add(uint64(len(subs)))
	t.stats.routeUnsubscribes.Add(uint64(len(unsubs)))
	var err error
	if len(subs) > 0 {
		err = conn.command("SUBSCRIBE", subs)
	}
	if err == nil && len(unsubs) > 0 {
		err = conn.command("UNSUBSCRIBE", unsubs)
	}
	if err != nil {
		// The connection cannot be trusted: the read loop finds it closed, resubscribes, and attach
		// starts every bucket afresh.
		t.log.Warn("redisadapter: bucket (un)subscribe failed; resubscribing", slog.Any("err", err))
		conn.close()
	}
	return next
}

// routeStats reads the table's gauges.
func (t *bucketTable) routeStats() (held, effective, pending int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, bk := range t.table {
		if bk.topics > 0 {
			held++
		}
		if bk.effective() {
			effective++
		}
		if bk.pending > 0 {
			pending++
		}
	}
	return held, effective, pending
}

// topicsIn returns how many local topics hold bucket b.
func (t *bucketTable) topicsIn(b int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if bk := t.table[b]; bk != nil {
		return int(bk.topics)
	}
	return 0
}
