package otelexporter

import "go.opentelemetry.io/otel/metric"

// instruments are the observable instruments of every source kind.
type instruments struct {
	psReceived, psDropped, psReordered, psRebased, psGaps, psGapsReported, psDuplicateNodes metric.Int64ObservableCounter

	raPublished, raPublishErrors, raReceived, raRejected, raDropped, raReconnects, raProbeFailures,
	raDuplicateNodes, raRouteSubscribes, raRouteUnsubscribes, raRouteUnexpected metric.Int64ObservableCounter
	raRouteBuckets, raRouteHeld, raRouteEffective, raRoutePending metric.Int64ObservableGauge

	phPublished, phPublishErrors, phRefused, phReceived, phDelivered, phNotForUs, phIgnored,
	phUndecodable, phGaps metric.Int64ObservableCounter

	trDroppedGossip, trSendErrors, trCoalescedHeartbeats, trCoalescedDiffs, trStalledTransfers metric.Int64ObservableCounter

	prDelivered, prDeliveryErrors metric.Int64ObservableCounter

	flEncodes, flEncodeErrors, flWrites, flDrops, flNilWriters metric.Int64ObservableCounter

	ppHeartbeats, ppTransfersSent, ppTransfersServed, ppReceived, ppDroppedGossip, ppSendErrors,
	ppDroppedDiffs metric.Int64ObservableCounter
	ppReplicas, ppPresences metric.Int64ObservableGauge
}

// builder creates instruments on a meter, keeping the first error.
type builder struct {
	meter metric.Meter
	all   []metric.Observable
	err   error
}

func (b *builder) counter(name, unit, desc string) metric.Int64ObservableCounter {
	if b.err != nil {
		return nil
	}
	c, err := b.meter.Int64ObservableCounter("phxgo."+name, metric.WithUnit(unit), metric.WithDescription(desc))
	b.err = err
	b.all = append(b.all, c)
	return c
}

func (b *builder) gauge(name, unit, desc string) metric.Int64ObservableGauge {
	if b.err != nil {
		return nil
	}
	g, err := b.meter.Int64ObservableGauge("phxgo."+name, metric.WithUnit(unit), metric.WithDescription(desc))
	b.err = err
	b.all = append(b.all, g)
	return g
}

// newInstruments creates every instrument on meter; it returns them and the list to register a
// callback for, or the meter's first error.
func newInstruments(meter metric.Meter) (*instruments, []metric.Observable, error) {
	b := &builder{meter: meter}
	in := &instruments{
		psReceived:       b.counter("pubsub.received", "{frame}", "Frames from other nodes the PubSub accepted."),
		psDropped:        b.counter("pubsub.dropped", "{frame}", "Frames from other nodes the PubSub dropped, by reason."),
		psReordered:      b.counter("pubsub.reordered", "{frame}", "Frames that arrived after a later frame of their sender, delivered once."),
		psRebased:        b.counter("pubsub.rebased", "{stream}", "Unsigned streams restarted by a frame far below their window."),
		psGaps:           b.counter("pubsub.gaps", "{gap}", "Losses found by sequence numbers."),
		psGapsReported:   b.counter("pubsub.gaps_reported", "{gap}", "Gap messages announced on GapTopic."),
		psDuplicateNodes: b.counter("pubsub.duplicate_nodes", "{frame}", "Frames from another live node using this node's name."),

		raPublished:         b.counter("redisadapter.published", "{frame}", "Frames Redis accepted."),
		raPublishErrors:     b.counter("redisadapter.publish_errors", "{frame}", "Frames whose PUBLISH failed."),
		raReceived:          b.counter("redisadapter.received", "{frame}", "Frames from other nodes the PubSub accepted."),
		raRejected:          b.counter("redisadapter.rejected", "{frame}", "Frames the PubSub dropped (phxgo.pubsub.dropped says why)."),
		raDropped:           b.counter("redisadapter.dropped", "{frame}", "Frames the adapter dropped before the PubSub saw them, by reason."),
		raReconnects:        b.counter("redisadapter.reconnects", "{reconnect}", "Subscriptions re-established after a failure."),
		raProbeFailures:     b.counter("redisadapter.probe_failures", "{failure}", "Subscriptions found dead because not even our probe arrived."),
		raDuplicateNodes:    b.counter("redisadapter.duplicate_nodes", "{probe}", "Probes from another live node using this node's name."),
		raRouteSubscribes:   b.counter("redisadapter.route_subscribes", "{subscription}", "Bucket channels subscribed, resubscriptions included (RouteByTopic)."),
		raRouteUnsubscribes: b.counter("redisadapter.route_unsubscribes", "{subscription}", "Bucket channels left after their linger (RouteByTopic)."),
		raRouteUnexpected:   b.counter("redisadapter.route_unexpected", "{confirmation}", "Bucket confirmations from Redis that matched no command sent (RouteByTopic)."),
		raRouteBuckets:      b.gauge("redisadapter.route_buckets", "{bucket}", "Buckets topics are hashed into (0 without RouteByTopic)."),
		raRouteHeld:         b.gauge("redisadapter.route_buckets_held", "{bucket}", "Buckets holding at least one topic a local subscriber holds."),
		raRouteEffective:    b.gauge("redisadapter.route_buckets_effective", "{bucket}", "Buckets subscribed and confirmed by Redis."),
		raRoutePending:      b.gauge("redisadapter.route_buckets_pending", "{bucket}", "Buckets with a SUBSCRIBE or UNSUBSCRIBE Redis has not confirmed yet."),

		phPublished:     b.counter("phoenixadapter.published", "{frame}", "Frames published on the Phoenix channel."),
		phPublishErrors: b.counter("phoenixadapter.publish_errors", "{frame}", "PUBLISH calls that failed."),
		phRefused:       b.counter("phoenixadapter.refused", "{message}", "Broadcasts refused before anything was published."),
		phReceived:      b.counter("phoenixadapter.received", "{frame}", "Frames read from the channel, this node's own included."),
		phDelivered:     b.counter("phoenixadapter.delivered", "{message}", "Messages handed to the PubSub."),
		phNotForUs:      b.counter("phoenixadapter.not_for_us", "{frame}", "Frames skipped: this node's own broadcasts, direct broadcasts to other nodes."),
		phIgnored:       b.counter("phoenixadapter.ignored", "{frame}", "Well-formed terms that are not frames this node can deliver."),
		phUndecodable:   b.counter("phoenixadapter.undecodable", "{frame}", "Frames that are not a term within the limits."),
		phGaps:          b.counter("phoenixadapter.gaps", "{gap}", "Moments messages may have been lost (a reconnect)."),

		trDroppedGossip:       b.counter("tracker.dropped_gossip", "{message}", "Gossip messages (or parts of them) the tracker dropped, by reason."),
		trSendErrors:          b.counter("tracker.send_errors", "{message}", "Gossip that could not be sent."),
		trCoalescedHeartbeats: b.counter("tracker.coalesced_heartbeats", "{heartbeat}", "Heartbeats merged into the one still waiting to be sent."),
		trCoalescedDiffs:      b.counter("tracker.coalesced_diffs", "{coalescing}", "Times the Handler's queue went over MaxPendingDiffs and was coalesced."),
		trStalledTransfers:    b.counter("tracker.stalled_transfers", "{stream}", "Transfer streams abandoned for silence (no credit, or no chunk)."),

		prDelivered:      b.counter("presence.delivered", "{diff}", "Presence diffs delivered, one per topic of each tracker diff."),
		prDeliveryErrors: b.counter("presence.delivery_errors", "{diff}", "Presence diffs not delivered (refused by the PubSub, or Fetch panicked)."),

		flEncodes:      b.counter("fastlane.encodes", "{call}", "Encoder calls: one per dispatch that met a fastlane entry other than the sender's."),
		flEncodeErrors: b.counter("fastlane.encode_errors", "{call}", "Encoder calls that failed or panicked (included in encodes)."),
		flWrites:       b.counter("fastlane.writes", "{frame}", "Frames a FrameWriter accepted."),
		flDrops:        b.counter("fastlane.drops", "{frame}", "Frames a FrameWriter dropped (a slow connection)."),
		flNilWriters:   b.counter("fastlane.nil_writers", "{entry}", "Fastlane entries skipped because their Writer was nil."),

		ppHeartbeats:      b.counter("phoenixpresence.heartbeats", "{message}", "Heartbeats the Go replica sent (with a delta or empty)."),
		ppTransfersSent:   b.counter("phoenixpresence.transfers_sent", "{message}", "Transfer requests the Go replica sent."),
		ppTransfersServed: b.counter("phoenixpresence.transfers_served", "{message}", "Transfer acks the Go replica sent in answer to other replicas' requests."),
		ppReceived:        b.counter("phoenixpresence.received", "{message}", "Gossip messages merged or handled."),
		ppDroppedGossip:   b.counter("phoenixpresence.dropped_gossip", "{message}", "Messages on the gossip topic that are not Phoenix.Tracker messages of the pinned shapes or exceed the limits."),
		ppSendErrors:      b.counter("phoenixpresence.send_errors", "{message}", "Gossip that could not be published."),
		ppDroppedDiffs:    b.counter("phoenixpresence.dropped_diffs", "{presence}", "Presences of diffs dropped because the Handler fell too far behind."),
		ppReplicas:        b.gauge("phoenixpresence.replicas", "{replica}", "Other replicas known now."),
		ppPresences:       b.gauge("phoenixpresence.presences", "{presence}", "Presences in the state, of every replica."),
	}
	if b.err != nil {
		return nil, nil, b.err
	}
	return in, b.all, nil
}
