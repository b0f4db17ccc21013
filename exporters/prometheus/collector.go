// Package promexporter exports the counters of phxgo/pubsub to Prometheus: a PubSub's
// (pubsub.Stats), a Redis adapter's (redisadapter.Stats) and a tracker's (tracker.Stats).
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
// Every metric is a counter; every one carries the labels pubsub (the PubSub's name) and node (the
// node's name), the tracker's also tracker (its name), and the drop counters reason:
//
//	phxgo_pubsub_received_total{pubsub,node}
//	phxgo_pubsub_dropped_total{pubsub,node,reason}     reason: too_large, malformed, version, signature, stale,
//	                                                   duplicate, misaddressed, reserved_topic, dispatcher, type
//	phxgo_pubsub_reordered_total{pubsub,node}
//	phxgo_pubsub_rebased_total{pubsub,node}
//	phxgo_pubsub_gaps_total{pubsub,node}
//	phxgo_pubsub_gaps_reported_total{pubsub,node}
//	phxgo_pubsub_duplicate_nodes_total{pubsub,node}
//	phxgo_redisadapter_published_total{pubsub,node}
//	phxgo_redisadapter_publish_errors_total{pubsub,node}
//	phxgo_redisadapter_received_total{pubsub,node}
//	phxgo_redisadapter_rejected_total{pubsub,node}
//	phxgo_redisadapter_dropped_total{pubsub,node,reason}   reason: too_large
//	phxgo_redisadapter_reconnects_total{pubsub,node}
//	phxgo_redisadapter_probe_failures_total{pubsub,node}
//	phxgo_redisadapter_duplicate_nodes_total{pubsub,node}
//	phxgo_tracker_dropped_gossip_total{pubsub,node,tracker}
//	phxgo_tracker_send_errors_total{pubsub,node,tracker}
//
// The fields' meanings are those of the Stats types; docs/operations.md says which to alert on.
package promexporter

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// Collector is a prometheus.Collector of the counters of the PubSubs, adapters and trackers it was
// made with. Register it once; it is safe for concurrent scrapes.
type Collector struct {
	pubsubs  []*pubsub.PubSub
	adapters []adapter
	trackers []trackerSource
}

type adapter struct {
	pubsub string
	a      *redisadapter.Adapter
}

type trackerSource struct {
	pubsub, node, name string
	t                  *tracker.Tracker
}

// Option adds a source of counters to a Collector.
type Option func(*Collector)

// WithPubSub exports ps.Stats(), labelled pubsub=ps.Name(), node=ps.NodeName().
func WithPubSub(ps *pubsub.PubSub) Option {
	return func(c *Collector) { c.pubsubs = append(c.pubsubs, ps) }
}

// WithRedisAdapter exports a.Stats(), labelled pubsub=ps.Name(), node=a.NodeName(); ps is the PubSub
// the adapter serves (an adapter does not tell its PubSub's name).
func WithRedisAdapter(ps *pubsub.PubSub, a *redisadapter.Adapter) Option {
	return func(c *Collector) { c.adapters = append(c.adapters, adapter{pubsub: ps.Name(), a: a}) }
}

// WithTracker exports t.Stats(), labelled pubsub=ps.Name(), node=ps.NodeName(), tracker=name; ps is the
// PubSub the tracker was started on and name its tracker.Config.Name (a Tracker tells neither).
func WithTracker(ps *pubsub.PubSub, name string, t *tracker.Tracker) Option {
	return func(c *Collector) {
		c.trackers = append(c.trackers, trackerSource{pubsub: ps.Name(), node: ps.NodeName(), name: name, t: t})
	}
}

// NewCollector returns a Collector of the given sources' counters.
func NewCollector(opts ...Option) *Collector {
	c := &Collector{}
	for _, o := range opts {
		o(c)
	}
	return c
}

var (
	nodeLabels    = []string{"pubsub", "node"}
	reasonLabels  = []string{"pubsub", "node", "reason"}
	trackerLabels = []string{"pubsub", "node", "tracker"}

	psReceived       = desc("pubsub_received_total", "Frames from other nodes the PubSub accepted.", nodeLabels)
	psDropped        = desc("pubsub_dropped_total", "Frames from other nodes the PubSub dropped, by reason.", reasonLabels)
	psReordered      = desc("pubsub_reordered_total", "Frames that arrived after a later frame of their sender, delivered once.", nodeLabels)
	psRebased        = desc("pubsub_rebased_total", "Unsigned streams restarted by a frame far below their window.", nodeLabels)
	psGaps           = desc("pubsub_gaps_total", "Losses found by sequence numbers.", nodeLabels)
	psGapsReported   = desc("pubsub_gaps_reported_total", "Gap messages announced on GapTopic.", nodeLabels)
	psDuplicateNodes = desc("pubsub_duplicate_nodes_total", "Frames from another live node using this node's name.", nodeLabels)

	raPublished      = desc("redisadapter_published_total", "Frames Redis accepted.", nodeLabels)
	raPublishErrors  = desc("redisadapter_publish_errors_total", "Frames whose PUBLISH failed.", nodeLabels)
	raReceived       = desc("redisadapter_received_total", "Frames from other nodes the PubSub accepted.", nodeLabels)
	raRejected       = desc("redisadapter_rejected_total", "Frames the PubSub dropped (phxgo_pubsub_dropped_total says why).", nodeLabels)
	raDropped        = desc("redisadapter_dropped_total", "Frames the adapter dropped before the PubSub saw them, by reason.", reasonLabels)
	raReconnects     = desc("redisadapter_reconnects_total", "Subscriptions re-established after a failure.", nodeLabels)
	raProbeFailures  = desc("redisadapter_probe_failures_total", "Subscriptions found dead because not even our probe arrived.", nodeLabels)
	raDuplicateNodes = desc("redisadapter_duplicate_nodes_total", "Probes from another live node using this node's name.", nodeLabels)

	trDroppedGossip = desc("tracker_dropped_gossip_total", "Gossip messages the tracker dropped.", trackerLabels)
	trSendErrors    = desc("tracker_send_errors_total", "Gossip that could not be sent.", trackerLabels)

	allDescs = []*prometheus.Desc{
		psReceived, psDropped, psReordered, psRebased, psGaps, psGapsReported, psDuplicateNodes,
		raPublished, raPublishErrors, raReceived, raRejected, raDropped, raReconnects, raProbeFailures, raDuplicateNodes,
		trDroppedGossip, trSendErrors,
	}
)

func desc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc("phxgo_"+name, help, labels, nil)
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads every source's Stats.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, ps := range c.pubsubs {
		s, name, node := ps.Stats(), ps.Name(), ps.NodeName()
		counter(psReceived, s.Received, name, node)
		for _, d := range []struct {
			reason string
			v      uint64
		}{
			{"too_large", s.DroppedTooLarge}, {"malformed", s.DroppedMalformed}, {"version", s.DroppedVersion},
			{"signature", s.DroppedSignature}, {"stale", s.DroppedStale}, {"duplicate", s.DroppedDuplicate},
			{"misaddressed", s.DroppedMisaddressed}, {"reserved_topic", s.DroppedReserved},
			{"dispatcher", s.DroppedDispatcher}, {"type", s.DroppedType},
		} {
			counter(psDropped, d.v, name, node, d.reason)
		}
		counter(psReordered, s.Reordered, name, node)
		counter(psRebased, s.Rebased, name, node)
		counter(psGaps, s.Gaps, name, node)
		counter(psGapsReported, s.GapsReported, name, node)
		counter(psDuplicateNodes, s.DuplicateNodes, name, node)
	}
	for _, a := range c.adapters {
		s, name, node := a.a.Stats(), a.pubsub, a.a.NodeName()
		counter(raPublished, s.Published, name, node)
		counter(raPublishErrors, s.PublishErrors, name, node)
		counter(raReceived, s.Received, name, node)
		counter(raRejected, s.Rejected, name, node)
		counter(raDropped, s.DroppedTooLarge, name, node, "too_large")
		counter(raReconnects, s.Reconnects, name, node)
		counter(raProbeFailures, s.ProbeFailures, name, node)
		counter(raDuplicateNodes, s.DuplicateNodes, name, node)
	}
	for _, t := range c.trackers {
		s := t.t.Stats()
		counter(trDroppedGossip, s.DroppedGossip, t.pubsub, t.node, t.name)
		counter(trSendErrors, s.SendErrors, t.pubsub, t.node, t.name)
	}
}
