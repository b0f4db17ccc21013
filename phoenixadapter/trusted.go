package phoenixadapter

import (
	"context"
	"fmt"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/etf"
)

// trustedEncoder encodes messages whose atoms the program chose: every atom is allowed.
func (a *Adapter) trustedEncoder() *etf.Encoder {
	return &etf.Encoder{Compression: a.cfg.Compression}
}

// BroadcastTrusted publishes message on topic, as Broadcast does with the default dispatcher, without
// checking its atoms against Config.Atoms, and without delivering it to this node's subscribers.
//
// Experimental: it exists for package phoenixpresence, whose Phoenix.Tracker gossip names the atoms
// of the tracker's private structs and the names of other nodes. Every atom in message is created on
// every Elixir node, forever: pass only terms whose atoms the program fixed, never any built from user
// input. Errors are those of Broadcast.
func (a *Adapter) BroadcastTrusted(ctx context.Context, topic string, message any) error {
	return a.sendTrusted(ctx, rawExcept, a.nodeAtom, topic, message)
}

// DirectBroadcastTrusted is BroadcastTrusted addressed to the node called node only, as
// Phoenix.PubSub.direct_broadcast does. Experimental, as BroadcastTrusted.
func (a *Adapter) DirectBroadcastTrusted(ctx context.Context, node, topic string, message any) error {
	if err := validAtom(node); err != nil {
		a.stats.refused.Add(1)
		return fmt.Errorf("%w: node name: %v", ErrUnencodable, err)
	}
	target, err := etf.AppendAtom(nil, Atom(node), false)
	if err != nil {
		a.stats.refused.Add(1)
		return fmt.Errorf("%w: node name: %w", ErrUnencodable, err)
	}
	return a.sendTrusted(ctx, rawOnly, target, topic, message)
}

func (a *Adapter) sendTrusted(ctx context.Context, mode, node etf.Raw, topic string, message any) error {
	if a.closed.Load() || !a.started.Load() || a.pub == nil {
		return fmt.Errorf("phoenixadapter: %w", pubsub.ErrClosed)
	}
	bp := frameBufs.Get().(*[]byte)
	b, err := a.trustedEncoder().Append((*bp)[:0], etf.Tuple{int64(3), mode, node, topic, message, rawPubSub})
	*bp = b
	if err != nil {
		frameBufs.Put(bp)
		a.stats.refused.Add(1)
		return fmt.Errorf("%w: %w", ErrUnencodable, err)
	}
	if len(b) > a.cfg.MaxMessageSize {
		frameBufs.Put(bp)
		a.stats.refused.Add(1)
		return fmt.Errorf("%w: the frame is %d bytes, MaxMessageSize is %d", pubsub.ErrTooLarge, len(b), a.cfg.MaxMessageSize)
	}
	return a.pub.publish(ctx, bp)
}
