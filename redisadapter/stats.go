package redisadapter

import "sync/atomic"

// Stats are an adapter's counters since it started: those of the transport. What the PubSub did with
// the frames it was handed (dropped by reason, reordered, gaps found by sequence numbers) is in
// pubsub.Stats. Every field only grows. Read them with Adapter.Stats; export them to your metrics
// system as counters.
type Stats struct {
	Published     uint64 // frames Redis accepted (broadcasts, direct broadcasts and probes)
	PublishErrors uint64 // frames whose PUBLISH failed (the caller got the error)
	Received      uint64 // frames from other nodes the PubSub accepted
	Rejected      uint64 // frames the PubSub dropped (pubsub.Stats says why)

	DroppedTooLarge uint64 // frames over MaxMessageSize, dropped before the PubSub saw them

	Reconnects     uint64 // subscriptions re-established after a failure (each reported as a gap)
	ProbeFailures  uint64 // subscriptions found dead because nothing, not even our probe, arrived
	DuplicateNodes uint64 // probes from another live node using this node's name

	// With Config.RouteByTopic: the churn of bucket subscriptions.
	RouteSubscribes   uint64 // bucket channels subscribed (SUBSCRIBE sent), resubscriptions included
	RouteUnsubscribes uint64 // bucket channels left after their linger (UNSUBSCRIBE sent)
	RouteUnexpected   uint64 // bucket confirmations from Redis that match no command sent (ignored)
}

// counters is the live form of Stats.
type counters struct {
	published, publishErrors, received, rejected, tooLarge atomic.Uint64
	reconnects, probeFailures, duplicateNodes              atomic.Uint64
	routeSubscribes, routeUnsubscribes, routeUnexpected    atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Published:       c.published.Load(),
		PublishErrors:   c.publishErrors.Load(),
		Received:        c.received.Load(),
		Rejected:        c.rejected.Load(),
		DroppedTooLarge: c.tooLarge.Load(),
		Reconnects:      c.reconnects.Load(),
		ProbeFailures:   c.probeFailures.Load(),
		DuplicateNodes:  c.duplicateNodes.Load(),

		RouteSubscribes:   c.routeSubscribes.Load(),
		RouteUnsubscribes: c.routeUnsubscribes.Load(),
		RouteUnexpected:   c.routeUnexpected.Load(),
	}
}

// Dropped returns the frames received but not accepted: over MaxMessageSize, or rejected by the PubSub.
func (s Stats) Dropped() uint64 { return s.DroppedTooLarge + s.Rejected }

// Routing is the state of an adapter's bucket subscriptions now (Config.RouteByTopic); zero without
// routing. Read it with Adapter.Routing; export its fields as gauges.
type Routing struct {
	Buckets   int // Config.Buckets
	Held      int // buckets that hold at least one topic a local subscriber holds
	Effective int // buckets subscribed and confirmed by Redis: their broadcasts reach this node
	Pending   int // buckets with a SUBSCRIBE or UNSUBSCRIBE that Redis has not confirmed yet
}
