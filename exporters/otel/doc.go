// Package otelexporter exports the counters of phxgo/pubsub as OpenTelemetry metrics: a PubSub's
// (pubsub.Stats), a Redis adapter's (redisadapter.Stats and Adapter.Routing), a Phoenix adapter's
// (phoenixadapter.Stats), a tracker's (tracker.Stats), a presence's (presence.Stats), a fastlane
// dispatcher's (fastlane.Stats) and a Phoenix Presence replica's (phoenixpresence.Stats), as asynchronous (observable) instruments on a metric.Meter.
//
// It is a module of its own (github.com/phxgo/pubsub/exporters/otel), so that a program that imports the
// library without it never depends on OpenTelemetry.
//
//	reg, err := otelexporter.Register(otel.Meter("github.com/phxgo/pubsub"),
//		otelexporter.WithPubSub(ps),
//		otelexporter.WithRedisAdapter(ps, adapter),
//		otelexporter.WithTracker(ps, "presence", t),
//	)
//	…
//	defer reg.Unregister()
//
// The callback reads the Stats when the SDK collects: the package starts no goroutine and holds no
// state of its own. Every instrument carries the attributes pubsub (the PubSub's name) and node (the
// node's name); the tracker's and the presence's also tracker (the tracker's name), the fastlane's
// dispatcher (the name it is registered under), and the drop counters reason. Every instrument is a cumulative monotonic counter, except the route_buckets and phoenixpresence gauges:
//
//	phxgo.pubsub.received{pubsub,node}
//	phxgo.pubsub.dropped{pubsub,node,reason}     reason: too_large, malformed, version, signature, stale,
//	                                             duplicate, misaddressed, reserved_topic, dispatcher, type,
//	                                             misrouted
//	phxgo.pubsub.reordered, phxgo.pubsub.rebased, phxgo.pubsub.gaps, phxgo.pubsub.gaps_reported,
//	phxgo.pubsub.duplicate_nodes{pubsub,node}
//
//	phxgo.redisadapter.published, phxgo.redisadapter.publish_errors, phxgo.redisadapter.received,
//	phxgo.redisadapter.rejected, phxgo.redisadapter.reconnects, phxgo.redisadapter.probe_failures,
//	phxgo.redisadapter.duplicate_nodes, phxgo.redisadapter.route_subscribes,
//	phxgo.redisadapter.route_unsubscribes, phxgo.redisadapter.route_unexpected{pubsub,node}
//	phxgo.redisadapter.dropped{pubsub,node,reason}   reason: too_large
//	phxgo.redisadapter.route_buckets, phxgo.redisadapter.route_buckets_held,
//	phxgo.redisadapter.route_buckets_effective, phxgo.redisadapter.route_buckets_pending{pubsub,node}
//	                                             gauges: Config.Buckets (0 without RouteByTopic), buckets
//	                                             holding a local subscription, subscribed and confirmed,
//	                                             awaiting Redis's confirmation
//
//	phxgo.phoenixadapter.published, phxgo.phoenixadapter.publish_errors, phxgo.phoenixadapter.refused,
//	phxgo.phoenixadapter.received, phxgo.phoenixadapter.delivered, phxgo.phoenixadapter.not_for_us,
//	phxgo.phoenixadapter.ignored, phxgo.phoenixadapter.undecodable, phxgo.phoenixadapter.gaps{pubsub,node}
//
//	phxgo.tracker.dropped_gossip{pubsub,node,tracker,reason}   reason: not_bytes, malformed, own_name,
//	                                     permdowned, unasked_transfer, foreign_delta, too_many_replicas,
//	                                     too_many_clocks, unknown_requester, request_rate, bad_chunk,
//	                                     orphan_chunk, too_large, unseen_remove (and any other reason
//	                                     tracker.Stats.DroppedGossipByReason holds)
//	phxgo.tracker.send_errors, phxgo.tracker.coalesced_heartbeats,
//	phxgo.tracker.coalesced_diffs, phxgo.tracker.stalled_transfers{pubsub,node,tracker}
//
//	phxgo.presence.delivered, phxgo.presence.delivery_errors{pubsub,node,tracker}
//
//	phxgo.fastlane.encodes, phxgo.fastlane.encode_errors, phxgo.fastlane.writes, phxgo.fastlane.drops,
//	phxgo.fastlane.nil_writers{pubsub,node,dispatcher}
//
//	phxgo.phoenixpresence.heartbeats, phxgo.phoenixpresence.transfers_sent,
//	phxgo.phoenixpresence.transfers_served, phxgo.phoenixpresence.received,
//	phxgo.phoenixpresence.dropped_gossip, phxgo.phoenixpresence.send_errors,
//	phxgo.phoenixpresence.dropped_diffs{pubsub,node,tracker}
//	phxgo.phoenixpresence.replicas, phxgo.phoenixpresence.presences{pubsub,node,tracker}   gauges
//
// Every listed reason is observed, zero until it occurs. The sum of phxgo.tracker.dropped_gossip over
// its reasons is tracker.Stats.DroppedGossip. The names are those of the Prometheus collector
// (github.com/phxgo/pubsub/exporters/prometheus) with dots; OpenTelemetry's Prometheus exporter adds the
// _total suffix of counters back. The fields' meanings are those of the Stats types; docs/operations.md
// says which to alert on.
package otelexporter
