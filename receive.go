package pubsub

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/phxgo/pubsub/internal/wire"
)

// frameLimits bounds frames from other nodes before anything is decoded: the format's hard caps. The
// adapter enforces its own, configurable, frame size (redisadapter.Config.MaxMessageSize) before it
// hands a frame over, so that raising it there is enough.
var frameLimits = wire.Limits{MaxFrame: wire.MaxFrameLen}

// handleFrame checks a frame from another node and delivers its message, in the order docs/protocol.md
// ("Receiving") gives: the cheap checks first, the payload last and only when someone here wants it.
func (ps *PubSub) handleFrame(frame string) error { return ps.handleRoutedFrame(routeUnchecked, frame) }

// routeUnchecked is the route of a frame handed over by HandleFrame: the adapter did not say on which
// route it arrived, so it is not checked.
const routeUnchecked = -2

// handleRoutedFrame is handleFrame for a frame that arrived on route arrived (RoutedHost).
func (ps *PubSub) handleRoutedFrame(arrived int, frame string) error {
	if inc, ok := wire.PeekIncarnation(frame); ok && inc == ps.incarnation {
		return nil // our own frame, echoed back by the transport: delivered locally already
	}
	f, err := wire.DecodeSigned(frame, frameLimits, ps.name, ps.cfg.Secrets...)
	if err != nil {
		return ps.dropWire(err)
	}
	if f.Kind == wire.KindProbe {
		return nil // a transport's liveness probe
	}
	if f.Origin == ps.nodeName {
		ps.stats.duplicateNodes.Add(1)
		ps.rlog.LogAt(slog.LevelError, "duplicate_node", "pubsub: another live node uses this node's name; direct broadcasts to it reach both",
			slog.String("pubsub", ps.name), slog.String("node", ps.nodeName), slog.String("other_incarnation", fmt.Sprintf("%x", f.Incarnation)))
	}
	switch {
	case f.Kind == wire.KindDirect && f.Target != ps.nodeName:
		return ps.drop(&ps.stats.misaddressed, "misaddressed", fmt.Errorf("%w: direct frame for node %q reached node %q", ErrBadFrame, f.Target, ps.nodeName))
	case reserved(f.Topic):
		return ps.drop(&ps.stats.reserved, "reserved_topic", fmt.Errorf("%w: frame on the reserved topic %q from node %q", ErrBadFrame, f.Topic, f.Origin))
	}
	route := -1 // the stream's route: a direct frame's stream is not routed
	if f.Kind == wire.KindBroadcast {
		route = ps.routeOf(f.Topic)
		if arrived != routeUnchecked && arrived != route {
			return ps.misrouted(arrived, route, f.Topic, f.Origin)
		}
	}
	now := ps.coarseNow()
	signed := len(ps.cfg.Secrets) > 0
	if signed {
		if err := ps.checkFresh(f.Time, now); err != nil {
			return ps.drop(&ps.stats.stale, "stale", fmt.Errorf("%w: frame %d of node %q: %w", ErrBadFrame, f.Seq, f.Origin, err))
		}
	}
	v, gap := ps.in.observe(&f, route, signed, now)
	if gap != nil {
		ps.stats.gaps.Add(1)
		ps.handleScopedGap(ps.scopeOf(route), gap)
	}
	switch v {
	case duplicate:
		return ps.drop(&ps.stats.duplicate, "duplicate", fmt.Errorf("%w: frame %d of node %q seen already", ErrBadFrame, f.Seq, f.Origin))
	case tooOld:
		return ps.drop(&ps.stats.stale, "stale", fmt.Errorf("%w: frame %d of node %q is older than its replay window", ErrBadFrame, f.Seq, f.Origin))
	case reordered:
		ps.stats.reordered.Add(1)
	case rebased:
		ps.stats.rebased.Add(1)
	}
	if !ps.registry.has(f.Topic) {
		ps.stats.received.Add(1)
		return nil // nobody here wants it: no payload decoding
	}
	d, err := ps.dispatcher(f.Dispatcher)
	if err != nil {
		return ps.drop(&ps.stats.dispatcher, "dispatcher", err)
	}
	payload, err := decodePayload(f.PayloadType, f.Payload)
	if err != nil {
		if errors.Is(err, ErrUnknownType) {
			return ps.drop(&ps.stats.typ, "type", err)
		}
		return ps.drop(&ps.stats.malformed, "malformed", err)
	}
	ps.stats.received.Add(1)
	// f.Topic aliases frame, an immutable string: subscribers may keep it.
	ps.deliver(d, nil, Message{Topic: f.Topic, Payload: payload})
	return nil
}

// coarseNow is the time as the sweeper last saw it, at most sweepInterval old: reading the clock for
// every frame costs more than the rest of a skipped frame's checks on some virtual machines, and
// nothing on the receive path needs more precision (reorderGrace and maxFrameAge are far longer).
func (ps *PubSub) coarseNow() time.Time { return time.Unix(0, ps.clock.Load()) }

// checkFresh refuses, on a signed PubSub, a frame sent before this node started or longer ago than
// maxFrameAge: no genuine frame is that late, so it is a replay. Config.ClockSkew is the tolerance.
func (ps *PubSub) checkFresh(sentMs int64, now time.Time) error {
	skew := ps.cfg.ClockSkew.Milliseconds()
	switch {
	case sentMs < ps.startedMs-skew:
		return errors.New("sent before this node started")
	case sentMs < now.UnixMilli()-maxFrameAge.Milliseconds()-skew:
		return fmt.Errorf("sent %v ago", (time.Duration(now.UnixMilli()-sentMs) * time.Millisecond).Round(time.Second))
	}
	return nil
}

// dropWire counts and logs a frame the wire format refused.
func (ps *PubSub) dropWire(err error) error {
	err = fmt.Errorf("%w: %w", ErrBadFrame, err)
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		return ps.drop(&ps.stats.tooLarge, "too_large", err)
	case errors.Is(err, wire.ErrVersion):
		return ps.drop(&ps.stats.version, "version", err)
	case errors.Is(err, wire.ErrSignature):
		return ps.drop(&ps.stats.signature, "signature", err)
	}
	return ps.drop(&ps.stats.malformed, "malformed", err)
}

// drop counts a dropped frame under its reason, logs it at a bounded rate, and returns err.
func (ps *PubSub) drop(counter *atomic.Uint64, reason string, err error) error {
	counter.Add(1)
	ps.rlog.LogAt(slog.LevelWarn, reason, "pubsub: dropped a frame from another node",
		slog.String("pubsub", ps.name), slog.String("node", ps.nodeName), slog.String("reason", reason), slog.Any("err", err))
	return err
}

// handleMessage delivers a message a MessageCarrier received.
func (ps *PubSub) handleMessage(m RemoteMessage) error {
	switch {
	case m.Origin == ps.nodeName:
		return nil // our own, delivered locally already
	case m.Target != "" && m.Target != ps.nodeName:
		return ps.drop(&ps.stats.misaddressed, "misaddressed", fmt.Errorf("%w: direct message for node %q reached node %q", ErrBadFrame, m.Target, ps.nodeName))
	case m.Topic == "":
		return ps.drop(&ps.stats.malformed, "malformed", fmt.Errorf("%w: message from node %q has no topic", ErrBadFrame, m.Origin))
	case reserved(m.Topic):
		return ps.drop(&ps.stats.reserved, "reserved_topic", fmt.Errorf("%w: message on the reserved topic %q from node %q", ErrBadFrame, m.Topic, m.Origin))
	}
	d, err := ps.dispatcher(m.Dispatcher)
	if err != nil {
		return ps.drop(&ps.stats.dispatcher, "dispatcher", err)
	}
	ps.stats.received.Add(1)
	ps.deliver(d, nil, Message{Topic: m.Topic, Payload: m.Payload})
	return nil
}
