package tracker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/phxgo/pubsub"
)

// The outbox takes sends off the shard's goroutine: the shard queues what it has to say and goes on with
// its ticks, merges and failure detection, however long the network takes (a Redis black hole holds a send
// for its whole timeout). Two goroutines per shard encode and send, one per lane:
//
//   - control: heartbeats, transfer requests and transfer answers that fit in one message, in order. At
//     most one heartbeat waits at a time: a new one absorbs the waiting one (their deltas merged, the newer
//     clocks kept), so a stalled network makes the queue no longer, only the pending delta larger. The lane
//     is bounded (maxControl); when full, its oldest message is dropped and counted in SendErrors (what it
//     carried reaches peers by anti-entropy, like any lost message).
//   - bulk: transfer answers, encoded here (a full state takes a while: heartbeats must not wait behind
//     it). An answer that fits in MaxGossipSize is sent at once; a larger one becomes a stream (chunk.go):
//     a full state in parts encoded one at a time, a large delta in chunks, sent as fast as the receiver
//     grants credit (credit.go), the streams to different nodes side by side. Control messages go between
//     two chunks: a transfer never delays a heartbeat. At most one stream per destination is queued or in
//     flight, and at most maxBulk in all; a newer answer for the same destination waits for the one in
//     flight unless that one stalled (see answering).
//
// A heartbeat larger than MaxGossipSize (its delta grew while the network was stalled) goes without its
// delta: its clocks show peers what they lack, and they ask for it at once (a directed, flow-controlled
// transfer; see shard.handleHeartbeat) rather than receive it broadcast, with no flow control.
//
// Encoding (a delta or a full-state extract to bytes) happens here, outside the shard's lock.

// maxControl bounds the control lane.
const maxControl = 256

// maxBulk bounds the bulk lane: destinations with a transfer queued or in flight.
const maxBulk = 16

// outMsg is one message waiting in the outbox: a gossip header, and its body as a delta, an extract, or
// already encoded in g.body.
type outMsg struct {
	node string // "" for a broadcast to every node
	g    gossip
	d    *delta
	x    *extract
	raw  []byte // the message already encoded (g, d and x unused)
}

type outbox struct {
	s      *shard
	ctx    context.Context // cancelled by stop: the send in flight returns at once
	cancel context.CancelFunc
	wake   chan struct{} // the control goroutine has work
	bwake  chan struct{} // the bulk goroutine has work
	done   chan struct{} // the control goroutine returned
	bdone  chan struct{} // the bulk goroutine returned

	mu        sync.Mutex
	control   []outMsg
	heartbeat int // index in control of the heartbeat waiting, or -1
	bulk      []*stream
	rr        int      // where the bulk goroutine's round robin over the streams resumes
	answers   []outMsg // transfer answers waiting to be encoded by the bulk goroutine
	encoding  string   // the node whose answer the bulk goroutine is encoding, or ""
	closed    bool
	// lastBeat is the header of the latest heartbeat pushed, and lastPush when: if the shard pushes none
	// for longer than its idle cadence (it is stalled, merging a large transfer), the outbox repeats
	// lastBeat, empty, so that peers do not take a busy replica for a dead one.
	lastBeat gossip
	lastPush time.Time
}

// keepaliveAfter is how long the outbox waits for a heartbeat from its shard before repeating the last
// one: the idle cadence (an empty heartbeat every MaxSilentPeriods+1 ticks) and half a period more, which
// is under DownPeriod (at least 2 × BroadcastPeriod, and derived from the cadence by default).
func (ob *outbox) keepaliveAfter() time.Duration {
	cfg := ob.s.t.cfg
	return time.Duration(cfg.MaxSilentPeriods+1)*cfg.BroadcastPeriod + cfg.BroadcastPeriod/2
}

func newOutbox(s *shard) *outbox {
	ctx, cancel := context.WithCancel(context.Background())
	ob := &outbox{s: s, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), bwake: make(chan struct{}, 1),
		done: make(chan struct{}), bdone: make(chan struct{}), heartbeat: -1}
	go ob.run()
	go ob.runBulk()
	return ob
}

func (ob *outbox) poke() { wake(ob.wake) }

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push queues a message. A heartbeat absorbs the heartbeat waiting, if any.
func (ob *outbox) push(m outMsg) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if ob.closed {
		return
	}
	if m.g.kind == gossipTransferDelta || m.g.kind == gossipTransferExtract {
		// Encoding a full state takes a while: the bulk goroutine does it, so that heartbeats (and the
		// keepalive) never wait behind it.
		if len(ob.answers) >= maxBulk {
			ob.s.t.stats.sendErrors.Add(1)
			ob.s.t.stats.outboxDropped.Add(1)
			return
		}
		ob.answers = append(ob.answers, m)
		wake(ob.bwake)
		return
	}
	if m.g.kind == gossipHeartbeat {
		ob.lastBeat = gossip{kind: gossipHeartbeat, from: m.g.from, clocks: m.g.clocks}
		ob.lastPush = time.Now()
	}
	if m.g.kind == gossipHeartbeat && ob.heartbeat >= 0 {
		if merged, ok := coalesceHeartbeats(ob.control[ob.heartbeat], m); ok {
			ob.control[ob.heartbeat] = merged
			ob.s.t.stats.coalescedHeartbeats.Add(1)
			ob.poke()
			return
		}
	}
	if len(ob.control) >= maxControl {
		ob.control = ob.control[1:]
		ob.s.t.stats.sendErrors.Add(1)
		ob.s.t.stats.outboxDropped.Add(1)
		if ob.heartbeat >= 0 {
			ob.heartbeat--
		}
	}
	if m.g.kind == gossipHeartbeat {
		ob.heartbeat = len(ob.control)
	}
	ob.control = append(ob.control, m)
	ob.poke()
}

// coalesceHeartbeats merges two heartbeats of the same replica, the older first: the newer clocks and the
// union of the deltas (consecutive own deltas are contiguous). ok is false if they cannot merge.
func coalesceHeartbeats(old, m outMsg) (outMsg, bool) {
	if old.raw != nil || m.raw != nil || old.g.from != m.g.from || old.g.body != nil || m.g.body != nil {
		return outMsg{}, false
	}
	switch {
	case old.d == nil:
	case m.d == nil:
		m.d = old.d
	default:
		d, err := mergeDeltas(old.d, m.d)
		if err != nil {
			return outMsg{}, false
		}
		m.d = d
	}
	return m, true
}

// take returns the next control message, or nil.
func (ob *outbox) takeControl() (outMsg, bool) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if len(ob.control) == 0 {
		return outMsg{}, false
	}
	m := ob.control[0]
	ob.control[0] = outMsg{}
	ob.control = ob.control[1:]
	switch {
	case ob.heartbeat == 0:
		ob.heartbeat = -1
	case ob.heartbeat > 0:
		ob.heartbeat--
	}
	if len(ob.control) == 0 {
		ob.control = nil
	}
	return m, true
}

func (ob *outbox) run() {
	defer close(ob.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if ob.ctx.Err() != nil {
			return
		}
		if m, ok := ob.takeControl(); ok {
			ob.sendMsg(m)
			continue
		}
		ob.mu.Lock()
		beat, keepalive := ob.lastBeat, ob.lastPush.Add(ob.keepaliveAfter())
		ob.mu.Unlock()
		now := time.Now()
		if !beat.from.isZero() && !now.Before(keepalive) {
			ob.mu.Lock()
			ob.lastPush = now
			ob.mu.Unlock()
			ob.s.t.stats.keepalives.Add(1)
			ob.sendMsg(outMsg{g: beat})
			continue
		}
		wait := keepalive.Sub(now)
		if beat.from.isZero() {
			wait = time.Hour
		}
		timer.Reset(wait)
		select {
		case <-ob.ctx.Done():
			return
		case <-ob.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// sendMsg encodes a control message and sends it.
func (ob *outbox) sendMsg(m outMsg) {
	if m.raw != nil {
		ob.send(m.node, m.raw)
		return
	}
	var err error
	switch {
	case m.d != nil:
		m.g.body, err = marshalDelta(m.d)
	case m.x != nil:
		m.g.body, err = marshalExtract(m.x)
	}
	if err != nil {
		ob.s.t.log.Error("tracker: cannot encode gossip", slog.Any("err", err))
		return
	}
	b, err := encodeGossip(m.g)
	if err != nil {
		ob.s.t.log.Error("tracker: cannot encode gossip", slog.Any("err", err))
		return
	}
	if len(b) > ob.s.t.cfg.MaxGossipSize && m.g.kind == gossipHeartbeat && m.node == "" {
		// Too large to broadcast: the clocks alone, and peers ask for what they lack (see the top).
		ob.s.t.stats.oversizeHeartbeats.Add(1)
		m.g.body = nil
		if b, err = encodeGossip(m.g); err != nil {
			ob.s.t.log.Error("tracker: cannot encode gossip", slog.Any("err", err))
			return
		}
	}
	ob.send(m.node, b)
}

// send publishes one encoded message, bounded by the send timeout and by stop.
func (ob *outbox) send(node string, b []byte) { ob.sendWithin(node, b, ob.s.t.sendTimeout) }

// sendWithin publishes one encoded message, bounded by timeout and by stop.
func (ob *outbox) sendWithin(node string, b []byte, timeout time.Duration) {
	s := ob.s
	ctx, cancel := context.WithTimeout(ob.ctx, timeout)
	var err error
	if node == "" {
		err = s.t.ps.BroadcastFrom(ctx, s.sub, s.topic, b)
	} else {
		err = s.t.ps.DirectBroadcast(ctx, node, s.topic, b)
	}
	cancel()
	if err != nil && !errors.Is(err, pubsub.ErrClosed) && ob.ctx.Err() == nil {
		s.t.stats.sendErrors.Add(1)
		s.t.sendLog.LogAt(slog.LevelWarn, s.topic, "tracker: gossip send failed", slog.String("topic", s.topic), slog.Any("err", err))
	}
}

// stop cancels the send in flight, drops what is queued, and waits for the sender to return, at most
// wait and not after ctx ends: a transport that ignores its context keeps the sender's goroutine until
// its send returns, but not the caller.
func (ob *outbox) stop(ctx context.Context, wait time.Duration) {
	ob.mu.Lock()
	ob.closed = true
	ob.control, ob.bulk, ob.answers = nil, nil, nil
	ob.mu.Unlock()
	ob.cancel()
	t := time.NewTimer(wait)
	defer t.Stop()
	for _, done := range []chan struct{}{ob.done, ob.bdone} {
		select {
		case <-done:
		case <-t.C:
			ob.s.t.log.Warn("tracker: a gossip send did not return when cancelled; closing anyway", slog.String("topic", ob.s.topic))
			return
		case <-ctx.Done():
			return
		}
	}
}
