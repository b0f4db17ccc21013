package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/wire"
)

// Reconnect backoff: quick first retries, so that delivery resumes well within a second of Redis
// coming back, capped so that a long outage does not hammer it.
const (
	minBackoff = 25 * time.Millisecond
	maxBackoff = 500 * time.Millisecond
)

// receiver owns the subscription: a read loop that hands frames to the PubSub, and a probe loop that
// publishes a probe to this node's channel every ProbeInterval and replaces the subscription when
// nothing at all (not even the probe) has arrived for 1.5 intervals.
type receiver struct {
	a       *Adapter
	closing chan struct{}
	ctx     context.Context // canceled by close: ends a resubscription in progress
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// seen counts what was read (and resubscriptions, and kills, which restart the silence window): the
	// read loop only increments it (reading the clock for every message costs more on some virtual
	// machines than the rest of an echo's handling), and the probe loop notes when it last changed.
	seen    atomic.Uint64
	probing atomic.Bool // a probe is in flight

	mu   sync.Mutex
	sub  subscription // the live subscription; closed to interrupt the read loop
	dead error        // why the probe loop closed sub, if it did
}

func newReceiver(a *Adapter, sub subscription) *receiver {
	r := &receiver{a: a, closing: make(chan struct{}), sub: sub}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(2)
	go r.readLoop()
	go r.probeLoop()
	return r
}

func (r *receiver) isClosing() bool {
	select {
	case <-r.closing:
		return true
	default:
		return false
	}
}

// readLoop reads until the subscription fails, then resubscribes (with backoff) and reports the
// possible gap, until the adapter closes.
func (r *receiver) readLoop() {
	defer r.wg.Done()
	sub := r.current()
	for {
		err := r.read(sub)
		sub.close()
		if r.isClosing() {
			return
		}
		if dead := r.detach(); dead != nil {
			err = dead
		}
		if r.a.table != nil && r.a.shards == nil {
			r.a.table.detach(0)
		}
		r.a.log.Warn("redisadapter: subscription lost, resubscribing", slog.Any("reason", err))
		if sub = r.resubscribe(); sub == nil {
			return // closing
		}
		r.a.stats.reconnects.Add(1)
		if r.a.table != nil && r.a.shards == nil {
			r.a.table.attach(0, sub) // subscribes the buckets again, on the new connection
		}
		r.a.host.HandleGap(fmt.Errorf("redisadapter: resubscribed after: %w", err))
	}
}

// read hands every message of sub to the adapter until sub fails or is closed.
func (r *receiver) read(sub subscription) error {
	for {
		ev, err := sub.receive()
		if err != nil {
			return err
		}
		r.seen.Add(1)
		r.a.handleEvent(ev)
	}
}

// resubscribe retries until a subscription is confirmed, or returns nil when the adapter closes.
func (r *receiver) resubscribe() subscription {
	backoff := minBackoff
	for {
		ctx, cancel := context.WithTimeout(r.ctx, startTimeout)
		sub, err := r.a.subscribe(ctx)
		cancel()
		if err == nil {
			r.mu.Lock()
			if r.isClosing() {
				r.mu.Unlock()
				sub.close()
				return nil
			}
			r.sub, r.dead = sub, nil
			r.seen.Add(1)
			r.mu.Unlock()
			return sub
		}
		r.a.rlog.LogAt(slog.LevelWarn, "resubscribe", "redisadapter: resubscribe failed", slog.Any("err", err))
		r.a.reload.failed(err) // a Redis Cluster may have failed over: refresh the slot map
		select {
		case <-r.closing:
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (r *receiver) current() subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sub
}

// detach forgets the failed subscription (so that kill cannot close it again, or be kept from
// killing the next one) and returns why the probe loop killed it, if it did.
func (r *receiver) detach() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.dead
	r.sub, r.dead = nil, nil
	return err
}

var errProbeTimeout = errors.New("redisadapter: nothing received, not even our own probe")

// probeLoop publishes a probe to this node's channel every interval and kills a silent subscription.
func (r *receiver) probeLoop() {
	defer r.wg.Done()
	interval := r.a.cfg.ProbeInterval
	probe := r.a.probeFrame()
	tick := time.NewTicker(interval / 4)
	defer tick.Stop()
	lastProbe := time.Time{}
	lastCount, lastChange := r.seen.Load(), time.Now()
	for {
		select {
		case <-r.closing:
			return
		case now := <-tick.C:
			if now.Sub(lastProbe) >= interval && r.probing.CompareAndSwap(false, true) {
				lastProbe = now
				// Sent on a goroutine of its own, one at a time: in a black hole the PUBLISH itself hangs
				// (for go-redis's read timeout), and the silence check below must not wait for it.
				r.wg.Add(1)
				go r.sendProbe(probe, interval)
			}
			if n := r.seen.Load(); n != lastCount {
				lastCount, lastChange = n, now
			}
			if silent := now.Sub(lastChange); silent > interval*3/2 {
				r.kill(fmt.Errorf("%w for %v", errProbeTimeout, silent.Round(time.Millisecond)))
			}
		}
	}
}

func (r *receiver) sendProbe(probe []byte, interval time.Duration) {
	defer r.wg.Done()
	defer r.probing.Store(false)
	ctx, cancel := context.WithTimeout(r.ctx, interval)
	defer cancel()
	if err := r.a.pub.publish(ctx, r.a.own, probe); err != nil && !r.isClosing() {
		r.a.rlog.LogAt(slog.LevelWarn, "probe", "redisadapter: probe publish failed", slog.Any("err", err))
	}
}

// probeFrame encodes this node's probe.
func (a *Adapter) probeFrame() []byte {
	probe, err := wire.Append(nil, &wire.Envelope{Kind: wire.KindProbe, Origin: a.cfg.NodeName, Incarnation: a.incarnation}, nil)
	if err != nil {
		panic("redisadapter: cannot encode a probe: " + err.Error()) // a bug: the node name was validated
	}
	return probe
}

// kill closes the live subscription so that the read loop replaces it.
func (r *receiver) kill(reason error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead != nil || r.sub == nil {
		return
	}
	r.a.stats.probeFailures.Add(1)
	r.dead = reason
	r.seen.Add(1) // give the replacement a full window
	r.sub.close()
}

func (r *receiver) close() {
	r.cancel()
	r.mu.Lock()
	close(r.closing)
	if r.sub != nil {
		r.sub.close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// handleEvent handles one event of the subscription: a message, or a message too large to read.
func (a *Adapter) handleEvent(ev event) {
	switch ev.kind {
	case evMessage:
		a.handle(ev.channel, ev.payload, ev.owned)
	case evTooLarge:
		a.dropTooLarge(ev.channel, ev.size)
	case evSubscribed, evUnsubscribed:
		if a.table != nil {
			if b := a.routes.bucketOf(ev.channel); b >= 0 {
				a.table.confirmed(b, ev.kind == evSubscribed)
			}
		}
	}
}

// handle hands one message from Redis to the PubSub, unless it is too large or is a probe (the
// adapter's own business). It runs on a read loop: the subscription's, or a sharded partition's (concurrently). Unless owned, channel and
// payload alias the subscription's buffers: they are valid during the call only, and what the PubSub
// is handed is a copy (it keeps parts of a frame in the messages it delivers). Dropping a frame
// allocates nothing.
func (a *Adapter) handle(channel, payload string, owned bool) {
	if len(payload) > a.cfg.MaxMessageSize {
		a.dropTooLarge(channel, len(payload))
		return
	}
	if inc, ok := wire.PeekIncarnation(payload); ok && inc == a.incarnation {
		return // our own frame or probe, echoed back (the PubSub would skip it too; this keeps Received exact)
	}
	if channel == a.own && a.probe(payload) {
		return
	}
	if !owned {
		payload = strings.Clone(payload)
	}
	var err error
	if a.table != nil {
		err = a.rhost.HandleRoutedFrame(a.routeOfChannel(channel), payload)
	} else {
		err = a.host.HandleFrame(payload)
	}
	switch {
	case err == nil:
		a.stats.received.Add(1)
	case errors.Is(err, pubsub.ErrClosed):
	default:
		a.stats.rejected.Add(1) // counted by reason, and logged, by the PubSub
	}
}

// dropTooLarge counts a frame of size bytes over MaxMessageSize, which was not read (the raw reader
// skips it) or is not handed on, and logs it at a bounded rate.
func (a *Adapter) dropTooLarge(channel string, size int) {
	a.stats.tooLarge.Add(1)
	if a.rlog.Suppressed("too_large") {
		return // nothing built for a line that would not be written
	}
	a.rlog.LogAt(slog.LevelWarn, "too_large", "redisadapter: dropped a frame",
		slog.String("reason", "too_large"), slog.Int("bytes", size), slog.String("channel", strings.Clone(channel)))
}

// probe reports whether payload is a probe. Called for this node's channel after its own echoes are
// skipped, so a probe there is another incarnation's: another live node uses this node's name.
func (a *Adapter) probe(payload string) bool {
	f, err := wire.Decode(payload, wire.Limits{MaxFrame: a.cfg.MaxMessageSize})
	if err != nil || f.Kind != wire.KindProbe {
		return false
	}
	a.stats.duplicateNodes.Add(1)
	a.rlog.LogAt(slog.LevelError, "duplicate", "redisadapter: another live node uses this node's name; direct broadcasts to it reach both",
		slog.String("other_incarnation", fmt.Sprintf("%x", f.Incarnation)))
	return true
}
