package promexporter

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phxgo/pubsub"
)

// Collector is a prometheus.Collector of the counters of the PubSubs, adapters, trackers, presences, fastlane dispatchers and Phoenix Presence replicas
// it was made with. Register it once; it is safe for concurrent scrapes.
type Collector struct {
	pubsubs   []*pubsub.PubSub
	redis     []redisSource
	phoenix   []phoenixSource
	trackers  []trackerSource
	presences []presenceSource
	fastlanes []fastlaneSource

	phoenixPresences []phoenixPresenceSource
}

// NewCollector returns a Collector of the given sources' counters.
func NewCollector(opts ...Option) *Collector {
	c := &Collector{}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// emitter sends the samples of one scrape.
type emitter chan<- prometheus.Metric

func (e emitter) counter(d *prometheus.Desc, v uint64, labels ...string) {
	e <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func (e emitter) gauge(d *prometheus.Desc, v int, labels ...string) {
	e <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
}

// Collect implements prometheus.Collector: it reads every source's Stats.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	e := emitter(ch)
	for _, ps := range c.pubsubs {
		collectPubSub(e, ps)
	}
	for _, a := range c.redis {
		collectRedis(e, a)
	}
	for _, a := range c.phoenix {
		collectPhoenix(e, a)
	}
	for _, t := range c.trackers {
		collectTracker(e, t)
	}
	for _, p := range c.presences {
		s := p.p.Stats()
		e.counter(prDelivered, s.Delivered, p.pubsub, p.node, p.name)
		e.counter(prDeliveryErrors, s.DeliveryErrors, p.pubsub, p.node, p.name)
	}
	for _, p := range c.phoenixPresences {
		s := p.t.Stats()
		e.counter(ppHeartbeats, s.Heartbeats, p.pubsub, p.node, p.name)
		e.counter(ppTransfersSent, s.TransfersSent, p.pubsub, p.node, p.name)
		e.counter(ppTransfersServed, s.TransfersServed, p.pubsub, p.node, p.name)
		e.counter(ppReceived, s.Received, p.pubsub, p.node, p.name)
		e.counter(ppDroppedGossip, s.DroppedGossip, p.pubsub, p.node, p.name)
		e.counter(ppSendErrors, s.SendErrors, p.pubsub, p.node, p.name)
		e.counter(ppDroppedDiffs, s.DroppedDiffs, p.pubsub, p.node, p.name)
		e.gauge(ppReplicas, s.Replicas, p.pubsub, p.node, p.name)
		e.gauge(ppPresences, s.Presences, p.pubsub, p.node, p.name)
	}
	for _, f := range c.fastlanes {
		s := f.d.Stats()
		e.counter(flEncodes, s.Encodes, f.pubsub, f.node, f.name)
		e.counter(flEncodeErrors, s.EncodeErrors, f.pubsub, f.node, f.name)
		e.counter(flWrites, s.Writes, f.pubsub, f.node, f.name)
		e.counter(flDrops, s.Drops, f.pubsub, f.node, f.name)
		e.counter(flNilWriters, s.NilWriters, f.pubsub, f.node, f.name)
	}
}

func collectPubSub(e emitter, ps *pubsub.PubSub) {
	s, name, node := ps.Stats(), ps.Name(), ps.NodeName()
	e.counter(psReceived, s.Received, name, node)
	for _, d := range []struct {
		reason string
		v      uint64
	}{
		{"too_large", s.DroppedTooLarge}, {"malformed", s.DroppedMalformed}, {"version", s.DroppedVersion},
		{"signature", s.DroppedSignature}, {"stale", s.DroppedStale}, {"duplicate", s.DroppedDuplicate},
		{"misaddressed", s.DroppedMisaddressed}, {"reserved_topic", s.DroppedReserved},
		{"dispatcher", s.DroppedDispatcher}, {"type", s.DroppedType}, {"misrouted", s.DroppedMisrouted},
	} {
		e.counter(psDropped, d.v, name, node, d.reason)
	}
	e.counter(psReordered, s.Reordered, name, node)
	e.counter(psRebased, s.Rebased, name, node)
	e.counter(psGaps, s.Gaps, name, node)
	e.counter(psGapsReported, s.GapsReported, name, node)
	e.counter(psDuplicateNodes, s.DuplicateNodes, name, node)
}

func collectRedis(e emitter, a redisSource) {
	s, r, name, node := a.a.Stats(), a.a.Routing(), a.pubsub, a.a.NodeName()
	e.counter(raPublished, s.Published, name, node)
	e.counter(raPublishErrors, s.PublishErrors, name, node)
	e.counter(raReceived, s.Received, name, node)
	e.counter(raRejected, s.Rejected, name, node)
	e.counter(raDropped, s.DroppedTooLarge, name, node, "too_large")
	e.counter(raReconnects, s.Reconnects, name, node)
	e.counter(raProbeFailures, s.ProbeFailures, name, node)
	e.counter(raDuplicateNodes, s.DuplicateNodes, name, node)
	e.counter(raRouteSubscribes, s.RouteSubscribes, name, node)
	e.counter(raRouteUnsubscribes, s.RouteUnsubscribes, name, node)
	e.counter(raRouteUnexpected, s.RouteUnexpected, name, node)
	e.gauge(raRouteBuckets, r.Buckets, name, node)
	e.gauge(raRouteHeld, r.Held, name, node)
	e.gauge(raRouteEffective, r.Effective, name, node)
	e.gauge(raRoutePending, r.Pending, name, node)
}

func collectPhoenix(e emitter, a phoenixSource) {
	s, name, node := a.a.Stats(), a.pubsub, a.a.NodeName()
	e.counter(phPublished, s.Published, name, node)
	e.counter(phPublishErrors, s.PublishErrors, name, node)
	e.counter(phRefused, s.Refused, name, node)
	e.counter(phReceived, s.Received, name, node)
	e.counter(phDelivered, s.Delivered, name, node)
	e.counter(phNotForUs, s.NotForUs, name, node)
	e.counter(phIgnored, s.Ignored, name, node)
	e.counter(phUndecodable, s.Undecodable, name, node)
	e.counter(phGaps, s.Gaps, name, node)
}

// gossipDropReasons are the reasons tracker.Stats.DroppedGossipByReason may hold (docs/tracker.md),
// exported even before they occur.
var gossipDropReasons = []string{
	"not_bytes", "malformed", "own_name", "permdowned", "unasked_transfer", "foreign_delta",
	"too_many_replicas", "too_many_clocks", "unknown_requester", "request_rate", "bad_chunk",
	"orphan_chunk", "too_large", "unseen_remove",
}

func collectTracker(e emitter, t trackerSource) {
	s := t.t.Stats()
	for _, r := range gossipDropReasons {
		e.counter(trDroppedGossip, s.DroppedGossipByReason[r], t.pubsub, t.node, t.name, r)
	}
	// A reason of a newer tracker than this list knows is exported too, from its first drop.
	var others []string
	for r := range s.DroppedGossipByReason {
		if !slices.Contains(gossipDropReasons, r) {
			others = append(others, r)
		}
	}
	slices.Sort(others)
	for _, r := range others {
		e.counter(trDroppedGossip, s.DroppedGossipByReason[r], t.pubsub, t.node, t.name, r)
	}
	e.counter(trSendErrors, s.SendErrors, t.pubsub, t.node, t.name)
	e.counter(trCoalescedHeartbeats, s.CoalescedHeartbeats, t.pubsub, t.node, t.name)
	e.counter(trCoalescedDiffs, s.CoalescedDiffs, t.pubsub, t.node, t.name)
	e.counter(trStalledTransfers, s.StalledTransfers, t.pubsub, t.node, t.name)
}
