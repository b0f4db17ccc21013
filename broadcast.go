package pubsub

import (
	"context"
	"fmt"
)

// Broadcast sends payload to every subscriber of topic on every node: first to the other nodes through
// the adapter, then, once the adapter has accepted it, to this node's subscribers (delivery is done when
// Broadcast returns). An adapter error skips local delivery and is returned, as in Phoenix; other nodes
// may still receive the message when the error came after it left this node (the Redis adapter's
// errors then wrap redisadapter.ErrMaybeDelivered). It returns ErrClosed, ErrEmptyTopic,
// ErrReservedTopic, ErrUnknownDispatcher (wrapped), or the adapter's error. It blocks only while the
// adapter sends, at most until ctx ends; never on a subscriber.
func (ps *PubSub) Broadcast(ctx context.Context, topic string, payload any, opts ...BroadcastOption) error {
	return ps.broadcast(ctx, nil, topic, payload, opts)
}

// BroadcastFrom is Broadcast that skips from's subscriptions on this node (the default dispatcher's rule;
// a custom dispatcher receives from and decides). Other nodes deliver to all their subscribers. It
// returns Broadcast's errors, ErrNilSubscriber, ErrForeignSubscriber, and from's close error.
func (ps *PubSub) BroadcastFrom(ctx context.Context, from *Subscriber, topic string, payload any, opts ...BroadcastOption) error {
	if ps.closed.Load() {
		return ErrClosed
	}
	if err := from.check(ps); err != nil {
		return err
	}
	return ps.broadcast(ctx, from, topic, payload, opts)
}

// LocalBroadcast delivers payload to this node's subscribers of topic only; it never touches the adapter
// and never blocks. It returns ErrClosed, ErrEmptyTopic or ErrUnknownDispatcher (wrapped).
func (ps *PubSub) LocalBroadcast(topic string, payload any, opts ...BroadcastOption) error {
	return ps.localBroadcast(nil, topic, payload, opts)
}

// LocalBroadcastFrom is LocalBroadcast that skips from's subscriptions (with the default dispatcher). It
// returns LocalBroadcast's errors, ErrNilSubscriber, ErrForeignSubscriber, and from's close error.
func (ps *PubSub) LocalBroadcastFrom(from *Subscriber, topic string, payload any, opts ...BroadcastOption) error {
	if ps.closed.Load() {
		return ErrClosed
	}
	if err := from.check(ps); err != nil {
		return err
	}
	return ps.localBroadcast(from, topic, payload, opts)
}

// DirectBroadcast delivers payload to the subscribers of topic on the node named node only. To this
// node's own name it delivers locally (prefer LocalBroadcast for that); to a node nobody knows it
// delivers nothing and returns nil, as in Phoenix. It returns ErrClosed, ErrEmptyTopic, ErrEmptyNode,
// ErrUnknownDispatcher (wrapped) or the adapter's error, and blocks only while the adapter sends.
func (ps *PubSub) DirectBroadcast(ctx context.Context, node, topic string, payload any, opts ...BroadcastOption) error {
	if ps.closed.Load() {
		return ErrClosed
	}
	if node == "" {
		return ErrEmptyNode
	}
	d, name, err := ps.prepare(topic, opts)
	if err != nil {
		return err
	}
	if node == ps.nodeName {
		ps.deliver(d, nil, Message{Topic: topic, Payload: payload})
		return nil
	}
	if !ps.remote {
		return nil
	}
	return ps.sendDirect(ctx, node, topic, name, payload)
}

// MustBroadcast is Broadcast that panics with a *BroadcastError instead of returning an error.
func (ps *PubSub) MustBroadcast(ctx context.Context, topic string, payload any, opts ...BroadcastOption) {
	if err := ps.Broadcast(ctx, topic, payload, opts...); err != nil {
		panic(&BroadcastError{Op: "broadcast", Topic: topic, Err: err})
	}
}

// MustBroadcastFrom is BroadcastFrom that panics with a *BroadcastError instead of returning an error.
func (ps *PubSub) MustBroadcastFrom(ctx context.Context, from *Subscriber, topic string, payload any, opts ...BroadcastOption) {
	if err := ps.BroadcastFrom(ctx, from, topic, payload, opts...); err != nil {
		panic(&BroadcastError{Op: "broadcast_from", Topic: topic, Err: err})
	}
}

// MustDirectBroadcast is DirectBroadcast that panics with a *BroadcastError instead of returning an error.
func (ps *PubSub) MustDirectBroadcast(ctx context.Context, node, topic string, payload any, opts ...BroadcastOption) {
	if err := ps.DirectBroadcast(ctx, node, topic, payload, opts...); err != nil {
		panic(&BroadcastError{Op: "direct_broadcast", Topic: topic, Err: err})
	}
}

func (ps *PubSub) broadcast(ctx context.Context, from *Subscriber, topic string, payload any, opts []BroadcastOption) error {
	d, name, err := ps.prepare(topic, opts)
	if err != nil {
		return err
	}
	if ps.remote {
		if err := ps.sendBroadcast(ctx, topic, name, payload); err != nil {
			return err
		}
	}
	ps.deliver(d, from, Message{Topic: topic, Payload: payload})
	return nil
}

func (ps *PubSub) localBroadcast(from *Subscriber, topic string, payload any, opts []BroadcastOption) error {
	d, _, err := ps.prepare(topic, opts)
	if err != nil {
		return err
	}
	ps.deliver(d, from, Message{Topic: topic, Payload: payload})
	return nil
}

// prepare checks the common arguments of a broadcast and resolves its dispatcher (nil for the default).
func (ps *PubSub) prepare(topic string, opts []BroadcastOption) (Dispatcher, string, error) {
	if ps.closed.Load() {
		return nil, "", ErrClosed
	}
	if topic == "" {
		return nil, "", ErrEmptyTopic
	}
	if reserved(topic) {
		return nil, "", fmt.Errorf("%w: %q", ErrReservedTopic, topic)
	}
	if len(opts) == 0 {
		return nil, "", nil
	}
	name := ""
	for _, opt := range opts {
		if opt.dispatcher != "" {
			name = opt.dispatcher
		}
	}
	d, err := ps.dispatcher(name)
	return d, name, err
}

// dispatcher resolves a dispatcher name: nil for the default ("").
func (ps *PubSub) dispatcher(name string) (Dispatcher, error) {
	if name == "" {
		return nil, nil
	}
	d, ok := ps.cfg.Dispatchers[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownDispatcher, name)
	}
	return d, nil
}

// deliver dispatches msg to this node's subscribers of msg.Topic with d (nil: the default dispatcher).
func (ps *PubSub) deliver(d Dispatcher, from *Subscriber, msg Message) {
	if d == nil {
		ps.registry.deliver(msg.Topic, from, msg)
		return
	}
	ps.registry.dispatch(msg.Topic, d, from, msg)
}
