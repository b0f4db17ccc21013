package pubsub

import (
	"context"
	"fmt"
	"strconv"
)

// TopicRouter is implemented by adapters that route broadcasts by topic, so that a node receives the
// broadcasts of the topics its subscribers hold rather than every broadcast of the PubSub
// (redisadapter with Config.RouteByTopic). The adapter maps each topic to a route, a number in
// [0, Routes()), or to -1 for a topic whose broadcasts still reach every node; a node receives a route
// while it is interested in one of its topics.
//
// The PubSub then:
//   - tells the adapter when a topic gains its first local subscription and loses its last
//     (Interest), so that the adapter subscribes to the topic's route and leaves it;
//   - numbers the broadcasts of each route in a stream of their own (docs/protocol.md, "Routed
//     streams"), so that a receiver, which sees only some routes, finds the losses of each route it
//     receives and never mistakes the routes it does not receive for lost frames; such a loss is
//     reported as a Gap whose Scope is the route (Gap.Affects);
//   - waits in Subscriber.SubscribeContext until the adapter says the topic's route is received
//     (AwaitTopic).
//
// A TopicRouter keeps Adapter's contract with two differences: a broadcast reaches the nodes that
// receive its topic's route (those that declared interest in a topic of it, once AwaitTopic would
// return), not every node; and sentence 3's order holds per route (broadcasts on different routes may
// arrive in any order). Direct broadcasts are unchanged. pubsubtest.RunAdapter checks routers so: it
// declares interest in its topics on every node and checks order per route.
//
// An adapter that implements TopicRouter but returns 0 from Routes does not route: the PubSub then
// never calls its other methods. The host an adapter is started with implements RoutedHost.
type TopicRouter interface {
	Adapter
	// Routes returns how many routes there are, or 0 when the adapter does not route. Constant and
	// available before Start; every node of a PubSub must agree on it and on Route.
	Routes() int
	// Route returns the route of topic: in [0, Routes()), or -1 for a topic whose broadcasts reach every
	// node. It is a pure function of topic, the same on every node.
	Route(topic string) int
	// Interest reports that topic gained its first local subscription (interested true) or lost its
	// last. It is called with a lock of the PubSub's registry held, from any goroutine: it must return
	// at once, call nothing of the PubSub, and not retain topic beyond the call unless it copies it. Calls
	// for one topic come in the order of the changes. It may be called after Close (and then ignored).
	Interest(topic string, interested bool)
	// AwaitTopic returns nil once broadcasts made on topic by other nodes reach this node, which holds a
	// local subscription to it: at once for a topic of route -1, or when its route's subscription is
	// confirmed by the transport. It returns ctx's error when ctx ends first, or ErrClosed after Close.
	AwaitTopic(ctx context.Context, topic string) error
}

// RoutedHost is what the Host given to a TopicRouter's Start offers beyond Host.
type RoutedHost interface {
	Host
	// HandleRoutedFrame is HandleFrame for a frame that arrived on route (the transport's channel of
	// that route; -1 for the channel every node receives). A broadcast frame whose topic is of another
	// route is dropped (counted in Stats.DroppedMisrouted) and the error wraps ErrBadFrame: a sender
	// that routes differently (another bucket count) or a forged frame.
	HandleRoutedFrame(route int, frame string) error
	// HandleScopedGap reports that messages on the topics of scope may have been lost (the
	// subscription of some routes died and was replaced, say): a Gap with that Scope. A nil scope is
	// HandleGap.
	HandleScopedGap(scope GapScope, reason error)
	// ForgetRoute tells that this node stopped receiving route (after it unsubscribed, or before it
	// subscribes again on a new connection): the next frame of each sender on the route starts its
	// stream afresh, instead of showing what was sent meanwhile as lost.
	ForgetRoute(route int)
}

// GapScope says which topics a Gap affects. See Gap.Scope.
type GapScope interface {
	// Affects reports whether messages on topic may have been lost.
	Affects(topic string) bool
	// String describes the scope in logs ("route 4711").
	String() string
}

// routeScope is the scope of a gap on one route of the PubSub's TopicRouter.
type routeScope struct {
	router TopicRouter
	route  int
}

func (s routeScope) Affects(topic string) bool { return s.router.Route(topic) == s.route }
func (s routeScope) String() string            { return "route " + strconv.Itoa(s.route) }

// routes returns the route of topic for numbering and receiving: -1 when the PubSub does not route or
// the topic's broadcasts reach every node.
func (ps *PubSub) routeOf(topic string) int {
	if ps.router == nil {
		return -1
	}
	return ps.router.Route(topic)
}

// interest is the registry's hook: a topic gained its first local subscription, or lost its last.
// Called with the topic's partition lock held; the router only records it (TopicRouter.Interest).
func (r *registry) interest(topic string, interested bool) {
	if r.router != nil {
		r.router.Interest(topic, interested)
	}
}

func (h host) HandleRoutedFrame(route int, frame string) error {
	if h.ps.closed.Load() {
		return ErrClosed
	}
	return h.ps.handleRoutedFrame(route, frame)
}

func (h host) HandleScopedGap(scope GapScope, reason error) { h.ps.handleScopedGap(scope, reason) }

func (h host) ForgetRoute(route int) { h.ps.in.forgetRoute(route) }

// scopeOf returns the scope of a gap on route: nil (anything) for route -1 or without a router.
func (ps *PubSub) scopeOf(route int) GapScope {
	if route < 0 || ps.router == nil {
		return nil
	}
	return routeScope{router: ps.router, route: route}
}

// misrouted drops a broadcast frame on topic that arrived on another route than the topic's (want).
func (ps *PubSub) misrouted(arrived, want int, topic, origin string) error {
	return ps.drop(&ps.stats.misrouted, "misrouted", fmt.Errorf("%w: frame on topic %q from node %q arrived on route %d, the topic's route is %d",
		ErrBadFrame, topic, origin, arrived, want))
}
