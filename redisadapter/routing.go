package redisadapter

import (
	"context"

	"github.com/phxgo/pubsub"
)

// Routes implements pubsub.TopicRouter: Config.Buckets with Config.RouteByTopic, else 0 (no routing).
func (a *Adapter) Routes() int {
	if a.routes == nil {
		return 0
	}
	return a.routes.buckets
}

// Route implements pubsub.TopicRouter: the bucket of topic, or -1 for a topic every node receives (one
// of Config.BroadcastPrefixes, or a reserved topic), and always -1 without Config.RouteByTopic.
func (a *Adapter) Route(topic string) int {
	if a.routes == nil {
		return -1
	}
	return a.routes.route(topic)
}

// Interest implements pubsub.TopicRouter: it counts topic in its bucket, and queues the bucket's
// SUBSCRIBE (first topic) or its UNSUBSCRIBE after Config.RouteLinger (last topic gone). It never waits
// on Redis.
func (a *Adapter) Interest(topic string, interested bool) {
	if a.table != nil {
		a.table.interest(topic, interested)
	}
}

// AwaitTopic implements pubsub.TopicRouter: it returns once Redis has confirmed the subscription to
// topic's bucket, at once for a topic that is not routed.
func (a *Adapter) AwaitTopic(ctx context.Context, topic string) error {
	if a.table == nil {
		if a.routes != nil && !a.started.Load() {
			return pubsub.ErrClosed // never started, or failed to
		}
		return nil
	}
	b := a.routes.route(topic)
	if b < 0 {
		return nil
	}
	return a.table.await(ctx, b)
}

// Routing returns the state of the adapter's bucket subscriptions (zero without routing).
func (a *Adapter) Routing() Routing {
	if a.table == nil {
		return Routing{}
	}
	held, effective, pending := a.table.routeStats()
	return Routing{Buckets: a.routes.buckets, Held: held, Effective: effective, Pending: pending}
}

// routeOfChannel returns the route a frame read on channel arrived on: its bucket, or -1 for the
// broadcast channel and this node's channel.
func (a *Adapter) routeOfChannel(channel string) int {
	if channel == a.bcast || channel == a.own {
		return -1
	}
	return a.routes.bucketOf(channel)
}

var _ pubsub.TopicRouter = (*Adapter)(nil)

// TopicChannel returns the Redis channel that broadcasts on topic travel on: its bucket's channel with
// Config.RouteByTopic (the topic's slot on a Redis Cluster is this channel's), else the PubSub's
// broadcast channel. It is known once the adapter has started.
func (a *Adapter) TopicChannel(topic string) string {
	if a.table != nil {
		if b := a.routes.route(topic); b >= 0 {
			name, _ := a.routes.channel(b)
			return name
		}
	}
	return a.bcast
}

// BucketTopics returns how many topics that local subscribers hold map to bucket (0 without routing,
// or for a bucket out of range): the bucket's subscription count on this node.
func (a *Adapter) BucketTopics(bucket int) int {
	if a.table == nil || bucket < 0 || bucket >= a.routes.buckets {
		return 0
	}
	return a.table.topicsIn(bucket)
}
