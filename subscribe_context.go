package pubsub

import (
	"context"
	"fmt"
)

// SubscribeContext subscribes to topic, as Subscribe does, and returns once broadcasts made on topic by
// other nodes reach the subscriber. With an adapter that routes by topic (TopicRouter, such as
// redisadapter with Config.RouteByTopic) a node receives a topic's broadcasts only once the transport
// has confirmed its subscription to the topic's route, which Subscribe does not wait for; SubscribeContext
// does. Without routing, or when this node already receives the route, it returns at once. Messages
// broadcast on this node are delivered from Subscribe's return either way.
//
// This is Phoenix's channel join: subscribe, then read the state (from a database, say), then receive,
// with nothing broadcast after the read missed.
//
// When ctx ends first the subscription stays (call Unsubscribe to drop it) and the error wraps
// ctx.Err(); broadcasts from other nodes may be missed until the route is confirmed. It returns
// Subscribe's errors, and ErrClosed once the PubSub is closed.
func (s *Subscriber) SubscribeContext(ctx context.Context, topic string, opts ...SubscribeOption) error {
	if err := s.Subscribe(topic, opts...); err != nil {
		return err
	}
	r := s.ps.router
	if r == nil || reserved(topic) {
		return nil
	}
	if err := r.AwaitTopic(ctx, topic); err != nil {
		return fmt.Errorf("pubsub: subscribed to %q, but broadcasts from other nodes may not reach it yet: %w", topic, err)
	}
	return nil
}
