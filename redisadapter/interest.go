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
	dirty     []int          // buckets to look at: a first topic came (bucket.queued)
	lingering []lingerEntry  // buckets whose last topic went, oldest first, from lingerHead on
	lingerAt  int            // index of the oldest entry of lingering
	conns     []subscription // the live subscription of each partition; nil while there is none
	inPart    []int          // buckets of each partition in table
	closed    bool

	// Sharded (Redis Cluster): commands are SSUBSCRIBE and SUNSUBSCRIBE, each partition has a
	// connection of its own, and need is called (without the lock) for a partition that has commands to
	// send and no connection, to open one; one with no bucket left is closed (release).
	sharded bool
	need    func(p int)
	release func(p int, sub subscription)

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
	parts := max(a.routes.parts, 1)
	t := &bucketTable{
		conns:   make([]subscription, parts),
		inPart:  make([]int, parts),
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
			t.add(b, bk)
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
	if t.conns[t.routes.partition(b)] != nil && bk.effective() {
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

// add puts bk in the table as bucket b's state, and del takes it out. Called with mu held.
func (t *bucketTable) add(b int, bk *bucket) {
	t.table[b] = bk
	t.inPart[t.routes.partition(b)]++
}

func (t *bucketTable) del(b int) {
	if _, ok := t.table[b]; ok {
		delete(t.table, b)
		t.inPart[t.routes.partition(b)]--
	}
}

// confirmed handles Redis's confirmation of a SUBSCRIBE (subscribed) or UNSUBSCRIBE of bucket b's
// channel on the live connection. Called by the read loop, in the order Redis answered. It returns
// false for a confirmation of no command sent: on a sharded connection, an unsubscription by the
// server because the slot moved.
func (t *bucketTable) confirmed(b int, subscribed bool) bool {
	t.mu.Lock()
	bk := t.table[b]
	if bk == nil || bk.pending == 0 {
		t.mu.Unlock()
		t.stats.routeUnexpected.Add(1)
		return false
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
			t.del(b)
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
	return true
}

// attach makes sub the live subscription of partition p (a new connection, which has no bucket
// subscribed): every bucket of p a local topic holds is subscribed again, the others are forgotten,
// and so are the streams of every bucket of p that was subscribed.
func (t *bucketTable) attach(p int, sub subscription) {
	var forget []int
	t.mu.Lock()
	t.conns[p] = sub
	for b, bk := range t.table {
		if t.routes.partition(b) != p {
			continue
		}
		if t.parts() > 1 {
			forget = append(forget, b)
		}
		bk.pending, bk.subscribed = 0, false
		if bk.topics == 0 {
			t.del(b)
			continue
		}
		if !bk.queued {
			bk.queued = true
			t.dirty = append(t.dirty, b)
		}
	}
	t.mu.Unlock()
	if t.parts() == 1 {
		t.host.ForgetRoute(-1)
	}
	for _, b := range forget {
		t.host.ForgetRoute(b)
	}
	t.poke()
}

func (t *bucketTable) parts() int { return len(t.conns) }

// detach forgets the live subscription of partition p, which failed: nothing is sent to p until the
// next attach.
func (t *bucketTable) detach(p int) {
	t.mu.Lock()
	t.conns[p] = nil
	t.mu.Unlock()
}

// wanted reports whether partition p has buckets (a sharded partition without any needs no connection).
func (t *bucketTable) wanted(p int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.closed && t.inPart[p] > 0
}

// close stops the table's goroutine; waiters return pubsub.ErrClosed, and interest is ignored.
func (t *bucketTable) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		<-t.done
		return
	}
	t.closed = true
	clear(t.conns)
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
	parts := t.parts()
	subs, unsubs := make([][]string, parts), make([][]string, parts)
	var needed, released []int
	var releasedSubs []subscription
	t.mu.Lock()
	// At most reconcileBatch buckets per hold of the lock, which interest (so Subscribe, under a
	// registry lock) waits for; the rest in the next round, at once.
	more := false
	todo := t.dirty
	if len(todo) > reconcileBatch {
		todo, more = todo[:reconcileBatch], true
	}
	kept := t.dirty[:0]
	progressed := false // a queued bucket had a connection: another round can do more
	for _, b := range todo {
		bk := t.table[b]
		if bk == nil || !bk.queued {
			continue
		}
		p := t.routes.partition(b)
		if t.conns[p] == nil {
			kept = append(kept, b) // until attach(p)
			if bk.topics > 0 && t.need != nil && (len(needed) == 0 || needed[len(needed)-1] != p) {
				needed = append(needed, p)
			}
			continue
		}
		bk.queued = false
		progressed = true
		switch {
		case bk.topics > 0 && !bk.subscribed:
			bk.subscribed = true
			bk.pending++
			name, _ := t.routes.channel(b)
			subs[p] = append(subs[p], name)
		case bk.topics == 0 && !bk.subscribed && bk.pending == 0:
			t.del(b)
		}
	}
	if more {
		kept = append(kept, t.dirty[reconcileBatch:]...) // kept ≤ reconcileBatch ≤ the start of what it copies
		more = progressed                                // else they wait for attach, which pokes
	}
	clear(t.dirty[len(kept):])
	t.dirty = kept
	now := time.Now().UnixNano()
	var next time.Duration
	for n := 0; t.lingerAt < len(t.lingering); n++ {
		if n == reconcileBatch {
			more = true
			break
		}
		e := t.lingering[t.lingerAt]
		if wait := e.idle + t.linger - now; wait > 0 {
			next = time.Duration(wait)
			break
		}
		t.lingerAt++
		bk := t.table[e.bucket]
		p := t.routes.partition(e.bucket)
		if bk == nil || bk.topics > 0 || bk.idle != e.idle || !bk.subscribed || t.conns[p] == nil {
			continue // held again, or never subscribed, or a later linger of it is queued, or its connection is gone
		}
		bk.subscribed = false
		bk.pending++
		name, _ := t.routes.channel(e.bucket)
		unsubs[p] = append(unsubs[p], name)
	}
	conns := append([]subscription(nil), t.conns...)
	if t.sharded {
		for p, c := range t.conns {
			if c != nil && t.inPart[p] == 0 {
				t.conns[p] = nil
				released, releasedSubs = append(released, p), append(releasedSubs, c)
			}
		}
	}
	if t.lingerAt > 1024 && t.lingerAt*2 > len(t.lingering) { // give back the consumed head
		t.lingering = append(t.lingering[:0:0], t.lingering[t.lingerAt:]...)
		t.lingerAt = 0
	}
	t.mu.Unlock()

	subCmd, unsubCmd := "SUBSCRIBE", "UNSUBSCRIBE"
	if t.sharded {
		subCmd, unsubCmd = "SSUBSCRIBE", "SUNSUBSCRIBE"
	}
	for p := range parts {
		if len(subs[p])+len(unsubs[p]) == 0 {
			continue
		}
		t.stats.routeSubscribes.Add(uint64(len(subs[p])))
		t.stats.routeUnsubscribes.Add(uint64(len(unsubs[p])))
		var err error
		if len(subs[p]) > 0 {
			err = conns[p].command(subCmd, subs[p])
		}
		if err == nil && len(unsubs[p]) > 0 {
			err = conns[p].command(unsubCmd, unsubs[p])
		}
		if err != nil {
			// The connection cannot be trusted: its read loop finds it closed, resubscribes, and attach
			// starts its buckets afresh.
			t.log.Warn("redisadapter: bucket (un)subscribe failed; resubscribing", slog.Int("partition", p), slog.Any("err", err))
			conns[p].close()
		}
	}
	for _, p := range needed {
		t.need(p)
	}
	for i, p := range released {
		t.release(p, releasedSubs[i])
	}
	if more {
		t.poke()
	}
	return next
}

// reconcileBatch bounds the buckets one round of reconcile looks at with the lock held.
const reconcileBatch = 4096

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
