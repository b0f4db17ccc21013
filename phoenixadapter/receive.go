package phoenixadapter

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
)

// ErrReconnected is the reason of the gaps the adapter reports: its subscription was re-established
// after a connection was lost or went silent, and frames published meanwhile were lost.
var ErrReconnected = errors.New("phoenixadapter: subscription re-established; frames published meanwhile are lost")

// receive reads the channel until ctx ends. go-redis re-subscribes after a lost connection; each
// confirmation after the first marks a gap.
func (a *Adapter) receive(ctx context.Context) {
	silence := 3 * a.cfg.ProbeInterval
	backoff := 10 * time.Millisecond
	for {
		// The deadline makes go-redis drop a connection that carried nothing, not even the answer to
		// the probe's ping, for three intervals (a black hole), and reconnect.
		rctx, cancel := context.WithTimeout(ctx, silence)
		msg, err := a.sub.Receive(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			a.rlog.LogAt(slog.LevelWarn, "receive", "phoenixadapter: subscription lost; reconnecting",
				slog.String("channel", a.channel), slog.String("node", a.cfg.NodeName), slog.Any("err", err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Message:
			a.handle(m.Payload)
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				a.stats.gaps.Add(1)
				a.log.Warn("phoenixadapter: re-subscribed after a lost connection; frames published meanwhile are lost",
					slog.String("channel", a.channel), slog.String("node", a.cfg.NodeName))
				a.host.HandleGap(ErrReconnected)
			}
		}
	}
}

// probe pings Redis on the subscription's connection every ProbeInterval, so that a live connection
// always carries something within the receive deadline.
func (a *Adapter) probe(ctx context.Context) {
	t := time.NewTicker(a.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, a.cfg.ProbeInterval)
			a.sub.Ping(pctx) // a failure shows as a receive error, or as silence
			cancel()
		}
	}
}

// handle applies phoenix_pubsub_redis's receive rule to one frame and hands what this node delivers to
// the PubSub: {3, :except, node, ...} unless node is this node, {3, :only, node, ...} if it is.
func (a *Adapter) handle(payload string) {
	a.stats.received.Add(1)
	if a.notForUs(payload) {
		a.stats.notForUs.Add(1)
		return
	}
	decodeFrame := DecodeFrame
	if a.cfg.TermPayloads {
		decodeFrame = decodeFrameTerm
	}
	f, err := decodeFrame(payload, a.cfg.MaxMessageSize)
	if errors.Is(err, ErrNotAFrame) {
		a.stats.ignored.Add(1)
		a.rlog.LogAt(slog.LevelDebug, "ignored", "phoenixadapter: ignored a term that is not a frame", slog.String("channel", a.channel), slog.Any("reason", err))
		return
	}
	if err != nil {
		a.stats.undecodable.Add(1)
		a.rlog.LogAt(slog.LevelWarn, "undecodable", "phoenixadapter: dropped a frame that is not a term within the limits",
			slog.String("channel", a.channel), slog.String("node", a.cfg.NodeName), slog.Int("bytes", len(payload)), slog.Any("err", err))
		return
	}
	// Phoenix compares the node with its node_name (an atom) by term equality: a node that is not an
	// atom is never this node.
	self := f.NodeIsAtom && f.Node == a.cfg.NodeName
	if f.Direct != self {
		a.stats.notForUs.Add(1)
		return
	}
	m := pubsub.RemoteMessage{Topic: f.Topic, Payload: f.Payload}
	if f.Direct {
		m.Target = a.cfg.NodeName
	} else {
		m.Origin = f.Node
	}
	var ok bool
	if m.Dispatcher, ok = a.dispIn[Atom(f.Dispatcher)]; !ok {
		a.stats.ignored.Add(1)
		a.rlog.LogAt(slog.LevelDebug, "dispatcher", "phoenixadapter: ignored a frame whose dispatcher has no Go counterpart in Config.Dispatchers",
			slog.String("channel", a.channel), slog.String("dispatcher", f.Dispatcher))
		return
	}
	if a.cfg.GoPayloads {
		p, isGo, err := fromGoPayload(f.Payload)
		if err != nil {
			a.stats.ignored.Add(1)
			a.rlog.LogAt(slog.LevelWarn, "gopayload", "phoenixadapter: dropped a Go payload that does not decode",
				slog.String("channel", a.channel), slog.String("topic", f.Topic), slog.Any("err", err))
			return
		}
		if isGo {
			m.Payload = p
		}
	}
	if a.host.HandleMessage(m) == nil {
		a.stats.delivered.Add(1)
	}
}
