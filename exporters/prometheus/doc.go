// Package promexporter exports the counters of phxgo/pubsub to Prometheus: a PubSub's (pubsub.Stats), a
// Redis adapter's (redisadapter.Stats and Adapter.Routing), a Phoenix adapter's (phoenixadapter.Stats), a
// tracker's (tracker.Stats), a presence's (presence.Stats), a fastlane dispatcher's (fastlane.Stats) and a Phoenix Presence
// replica's (phoenixpresence.Stats).
//
// It is a module of its own (github.com/phxgo/pubsub/exporters/prometheus), so that a program that
// imports the library without it never depends on the Prometheus client.
//
//	reg.MustRegister(promexporter.NewCollector(
//		promexporter.WithPubSub(ps),
//		promexporter.WithRedisAdapter(ps, adapter),
//		promexporter.WithTracker(ps, "presence", t),
//	))
//
// The Collector reads the Stats on each scrape: it starts no goroutine and holds no state of its own.
// Every metric carries the labels pubsub (the PubSub's name) and node (the node's name); the tracker's
// and the presence's also tracker (the tracker's name), the fastlane's dispatcher (the name it is
// registered under), and the drop counters reason. Every metric is a
// counter, except the gauges marked below:
//
//	phxgo_pubsub_received_total{pubsub,node}
//	phxgo_pubsub_dropped_total{pubsub,node,reason}     reason: too_large, malformed, version, signature, stale,
//	                                                   duplicate, misaddressed, reserved_topic, dispatcher, type,
//	                                                   misrouted
//	phxgo_pubsub_reordered_total{pubsub,node}
//	phxgo_pubsub_rebased_total{pubsub,node}
//	phxgo_pubsub_gaps_total{pubsub,node}
//	phxgo_pubsub_gaps_reported_total{pubsub,node}
//	phxgo_pubsub_duplicate_nodes_total{pubsub,node}
//
//	phxgo_redisadapter_published_total{pubsub,node}
//	phxgo_redisadapter_publish_errors_total{pubsub,node}
//	phxgo_redisadapter_received_total{pubsub,node}
//	phxgo_redisadapter_rejected_total{pubsub,node}
//	phxgo_redisadapter_dropped_total{pubsub,node,reason}   reason: too_large
//	phxgo_redisadapter_reconnects_total{pubsub,node}
//	phxgo_redisadapter_probe_failures_total{pubsub,node}
//	phxgo_redisadapter_duplicate_nodes_total{pubsub,node}
//	phxgo_redisadapter_route_subscribes_total{pubsub,node}
//	phxgo_redisadapter_route_unsubscribes_total{pubsub,node}
//	phxgo_redisadapter_route_unexpected_total{pubsub,node}
//	phxgo_redisadapter_route_buckets{pubsub,node}            gauge: Config.Buckets (0 without RouteByTopic)
//	phxgo_redisadapter_route_buckets_held{pubsub,node}       gauge: buckets holding a local subscription
//	phxgo_redisadapter_route_buckets_effective{pubsub,node}  gauge: buckets subscribed and confirmed
//	phxgo_redisadapter_route_buckets_pending{pubsub,node}    gauge: buckets awaiting Redis's confirmation
//
//	phxgo_phoenixadapter_published_total{pubsub,node}
//	phxgo_phoenixadapter_publish_errors_total{pubsub,node}
//	phxgo_phoenixadapter_refused_total{pubsub,node}
//	phxgo_phoenixadapter_received_total{pubsub,node}
//	phxgo_phoenixadapter_delivered_total{pubsub,node}
//	phxgo_phoenixadapter_not_for_us_total{pubsub,node}
//	phxgo_phoenixadapter_ignored_total{pubsub,node}
//	phxgo_phoenixadapter_undecodable_total{pubsub,node}
//	phxgo_phoenixadapter_gaps_total{pubsub,node}
//
//	phxgo_tracker_dropped_gossip_total{pubsub,node,tracker,reason}   reason: not_bytes, malformed, own_name,
//	                                        permdowned, unasked_transfer, foreign_delta, too_many_replicas,
//	                                        too_many_clocks, unknown_requester, request_rate, bad_chunk,
//	                                        orphan_chunk, too_large, unseen_remove (and any other reason
//	                                        tracker.Stats.DroppedGossipByReason holds)
//	phxgo_tracker_send_errors_total{pubsub,node,tracker}
//	phxgo_tracker_coalesced_heartbeats_total{pubsub,node,tracker}
//	phxgo_tracker_coalesced_diffs_total{pubsub,node,tracker}
//	phxgo_tracker_stalled_transfers_total{pubsub,node,tracker}
//
//	phxgo_presence_delivered_total{pubsub,node,tracker}
//	phxgo_presence_delivery_errors_total{pubsub,node,tracker}
//
//	phxgo_fastlane_encodes_total{pubsub,node,dispatcher}
//	phxgo_fastlane_encode_errors_total{pubsub,node,dispatcher}
//	phxgo_fastlane_writes_total{pubsub,node,dispatcher}
//	phxgo_fastlane_drops_total{pubsub,node,dispatcher}
//	phxgo_fastlane_nil_writers_total{pubsub,node,dispatcher}
//
//	phxgo_phoenixpresence_{heartbeats,transfers_sent,transfers_served,received,dropped_gossip,send_errors,
//	dropped_diffs}_total{pubsub,node,tracker}
//	phxgo_phoenixpresence_replicas{pubsub,node,tracker}    gauge: other replicas known
//	phxgo_phoenixpresence_presences{pubsub,node,tracker}   gauge: presences in the state
//
// Every listed reason is exported, zero until it occurs, so that rate() sees a reason's first drop. The
// sum of phxgo_tracker_dropped_gossip_total over its reasons is tracker.Stats.DroppedGossip. The fields'
// meanings are those of the Stats types; docs/operations.md says which to alert on.
package promexporter
