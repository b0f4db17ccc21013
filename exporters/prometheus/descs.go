package promexporter

import "github.com/prometheus/client_golang/prometheus"

var (
	nodeLabels          = []string{"pubsub", "node"}
	reasonLabels        = []string{"pubsub", "node", "reason"}
	trackerLabels       = []string{"pubsub", "node", "tracker"}
	trackerReasonLabels = []string{"pubsub", "node", "tracker", "reason"}
	dispatcherLabels    = []string{"pubsub", "node", "dispatcher"}

	psReceived       = desc("pubsub_received_total", "Frames from other nodes the PubSub accepted.", nodeLabels)
	psDropped        = desc("pubsub_dropped_total", "Frames from other nodes the PubSub dropped, by reason.", reasonLabels)
	psReordered      = desc("pubsub_reordered_total", "Frames that arrived after a later frame of their sender, delivered once.", nodeLabels)
	psRebased        = desc("pubsub_rebased_total", "Unsigned streams restarted by a frame far below their window.", nodeLabels)
	psGaps           = desc("pubsub_gaps_total", "Losses found by sequence numbers.", nodeLabels)
	psGapsReported   = desc("pubsub_gaps_reported_total", "Gap messages announced on GapTopic.", nodeLabels)
	psDuplicateNodes = desc("pubsub_duplicate_nodes_total", "Frames from another live node using this node's name.", nodeLabels)

	raPublished         = desc("redisadapter_published_total", "Frames Redis accepted.", nodeLabels)
	raPublishErrors     = desc("redisadapter_publish_errors_total", "Frames whose PUBLISH failed.", nodeLabels)
	raReceived          = desc("redisadapter_received_total", "Frames from other nodes the PubSub accepted.", nodeLabels)
	raRejected          = desc("redisadapter_rejected_total", "Frames the PubSub dropped (phxgo_pubsub_dropped_total says why).", nodeLabels)
	raDropped           = desc("redisadapter_dropped_total", "Frames the adapter dropped before the PubSub saw them, by reason.", reasonLabels)
	raReconnects        = desc("redisadapter_reconnects_total", "Subscriptions re-established after a failure.", nodeLabels)
	raProbeFailures     = desc("redisadapter_probe_failures_total", "Subscriptions found dead because not even our probe arrived.", nodeLabels)
	raDuplicateNodes    = desc("redisadapter_duplicate_nodes_total", "Probes from another live node using this node's name.", nodeLabels)
	raRouteSubscribes   = desc("redisadapter_route_subscribes_total", "Bucket channels subscribed, resubscriptions included (RouteByTopic).", nodeLabels)
	raRouteUnsubscribes = desc("redisadapter_route_unsubscribes_total", "Bucket channels left after their linger (RouteByTopic).", nodeLabels)
	raRouteUnexpected   = desc("redisadapter_route_unexpected_total", "Bucket confirmations from Redis that matched no command sent (RouteByTopic).", nodeLabels)
	raRouteBuckets      = desc("redisadapter_route_buckets", "Buckets topics are hashed into (0 without RouteByTopic).", nodeLabels)
	raRouteHeld         = desc("redisadapter_route_buckets_held", "Buckets holding at least one topic a local subscriber holds.", nodeLabels)
	raRouteEffective    = desc("redisadapter_route_buckets_effective", "Buckets subscribed and confirmed by Redis.", nodeLabels)
	raRoutePending      = desc("redisadapter_route_buckets_pending", "Buckets with a SUBSCRIBE or UNSUBSCRIBE Redis has not confirmed yet.", nodeLabels)

	phPublished     = desc("phoenixadapter_published_total", "Frames published on the Phoenix channel.", nodeLabels)
	phPublishErrors = desc("phoenixadapter_publish_errors_total", "PUBLISH calls that failed.", nodeLabels)
	phRefused       = desc("phoenixadapter_refused_total", "Broadcasts refused before anything was published.", nodeLabels)
	phReceived      = desc("phoenixadapter_received_total", "Frames read from the channel, this node's own included.", nodeLabels)
	phDelivered     = desc("phoenixadapter_delivered_total", "Messages handed to the PubSub.", nodeLabels)
	phNotForUs      = desc("phoenixadapter_not_for_us_total", "Frames skipped: this node's own broadcasts, direct broadcasts to other nodes.", nodeLabels)
	phIgnored       = desc("phoenixadapter_ignored_total", "Well-formed terms that are not frames this node can deliver.", nodeLabels)
	phUndecodable   = desc("phoenixadapter_undecodable_total", "Frames that are not a term within the limits.", nodeLabels)
	phGaps          = desc("phoenixadapter_gaps_total", "Moments messages may have been lost (a reconnect).", nodeLabels)

	trDroppedGossip       = desc("tracker_dropped_gossip_total", "Gossip messages (or parts of them) the tracker dropped, by reason.", trackerReasonLabels)
	trSendErrors          = desc("tracker_send_errors_total", "Gossip that could not be sent.", trackerLabels)
	trCoalescedHeartbeats = desc("tracker_coalesced_heartbeats_total", "Heartbeats merged into the one still waiting to be sent.", trackerLabels)
	trCoalescedDiffs      = desc("tracker_coalesced_diffs_total", "Times the Handler's queue went over MaxPendingDiffs and was coalesced.", trackerLabels)
	trStalledTransfers    = desc("tracker_stalled_transfers_total", "Transfer streams abandoned for silence (no credit, or no chunk).", trackerLabels)

	prDelivered      = desc("presence_delivered_total", "Presence diffs delivered, one per topic of each tracker diff.", trackerLabels)
	prDeliveryErrors = desc("presence_delivery_errors_total", "Presence diffs not delivered (refused by the PubSub, or Fetch panicked).", trackerLabels)

	flEncodes      = desc("fastlane_encodes_total", "Encoder calls: one per dispatch that met a fastlane entry other than the sender's.", dispatcherLabels)
	flEncodeErrors = desc("fastlane_encode_errors_total", "Encoder calls that failed or panicked (included in encodes).", dispatcherLabels)
	flWrites       = desc("fastlane_writes_total", "Frames a FrameWriter accepted.", dispatcherLabels)
	flDrops        = desc("fastlane_drops_total", "Frames a FrameWriter dropped (a slow connection).", dispatcherLabels)
	flNilWriters   = desc("fastlane_nil_writers_total", "Fastlane entries skipped because their Writer was nil.", dispatcherLabels)

	ppHeartbeats      = desc("phoenixpresence_heartbeats_total", "Heartbeats the Go replica sent (with a delta or empty).", trackerLabels)
	ppTransfersSent   = desc("phoenixpresence_transfers_sent_total", "Transfer requests the Go replica sent.", trackerLabels)
	ppTransfersServed = desc("phoenixpresence_transfers_served_total", "Transfer acks the Go replica sent in answer to other replicas' requests.", trackerLabels)
	ppReceived        = desc("phoenixpresence_received_total", "Gossip messages merged or handled.", trackerLabels)
	ppDroppedGossip   = desc("phoenixpresence_dropped_gossip_total", "Messages on the gossip topic that are not Phoenix.Tracker messages of the pinned shapes or exceed the limits.", trackerLabels)
	ppSendErrors      = desc("phoenixpresence_send_errors_total", "Gossip that could not be published.", trackerLabels)
	ppDroppedDiffs    = desc("phoenixpresence_dropped_diffs_total", "Presences of diffs dropped because the Handler fell too far behind.", trackerLabels)
	ppReplicas        = desc("phoenixpresence_replicas", "Other replicas known now.", trackerLabels)
	ppPresences       = desc("phoenixpresence_presences", "Presences in the state, of every replica.", trackerLabels)

	allDescs = []*prometheus.Desc{
		psReceived, psDropped, psReordered, psRebased, psGaps, psGapsReported, psDuplicateNodes,
		raPublished, raPublishErrors, raReceived, raRejected, raDropped, raReconnects, raProbeFailures, raDuplicateNodes,
		raRouteSubscribes, raRouteUnsubscribes, raRouteUnexpected, raRouteBuckets, raRouteHeld, raRouteEffective, raRoutePending,
		phPublished, phPublishErrors, phRefused, phReceived, phDelivered, phNotForUs, phIgnored, phUndecodable, phGaps,
		trDroppedGossip, trSendErrors, trCoalescedHeartbeats, trCoalescedDiffs, trStalledTransfers,
		prDelivered, prDeliveryErrors,
		flEncodes, flEncodeErrors, flWrites, flDrops, flNilWriters,
		ppHeartbeats, ppTransfersSent, ppTransfersServed, ppReceived, ppDroppedGossip, ppSendErrors, ppDroppedDiffs,
		ppReplicas, ppPresences,
	}
)

func desc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc("phxgo_"+name, help, labels, nil)
}
