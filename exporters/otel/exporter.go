// Package otelexporter exports the counters of phxgo/pubsub as OpenTelemetry metrics: a PubSub's
// (pubsub.Stats), a Redis adapter's (redisadapter.Stats) and a tracker's (tracker.Stats), as
// asynchronous (observable) counters on a metric.Meter.
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
// state of its own. Every counter is cumulative and monotonic, and carries the attributes pubsub (the
// PubSub's name) and node (the node's name); the tracker's also tracker (its name), and the drop counters
// reason:
//
//	phxgo.pubsub.received{pubsub,node}
//	phxgo.pubsub.dropped{pubsub,node,reason}     reason: too_large, malformed, version, signature, stale,
//	                                             duplicate, misaddressed, reserved_topic, dispatcher, type
//	phxgo.pubsub.reordered, phxgo.pubsub.rebased, phxgo.pubsub.gaps, phxgo.pubsub.gaps_reported,
//	phxgo.pubsub.duplicate_nodes{pubsub,node}
//	phxgo.redisadapter.published, phxgo.redisadapter.publish_errors, phxgo.redisadapter.received,
//	phxgo.redisadapter.rejected, phxgo.redisadapter.reconnects, phxgo.redisadapter.probe_failures,
//	phxgo.redisadapter.duplicate_nodes{pubsub,node}
//	phxgo.redisadapter.dropped{pubsub,node,reason}   reason: too_large
//	phxgo.tracker.dropped_gossip, phxgo.tracker.send_errors{pubsub,node,tracker}
//
// The names are those of the Prometheus collector (github.com/phxgo/pubsub/exporters/prometheus) with
// dots; OpenTelemetry's Prometheus exporter adds the _total suffix back. The fields' meanings are those
// of the Stats types; docs/operations.md says which to alert on.
package otelexporter

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// Option adds a source of counters.
type Option func(*sources)

type sources struct {
	pubsubs  []*pubsub.PubSub
	adapters []adapterSource
	trackers []trackerSource
}

type adapterSource struct {
	pubsub string
	a      *redisadapter.Adapter
}

type trackerSource struct {
	pubsub, node, name string
	t                  *tracker.Tracker
}

// WithPubSub exports ps.Stats(), with pubsub=ps.Name(), node=ps.NodeName().
func WithPubSub(ps *pubsub.PubSub) Option {
	return func(s *sources) { s.pubsubs = append(s.pubsubs, ps) }
}

// WithRedisAdapter exports a.Stats(), with pubsub=ps.Name(), node=a.NodeName(); ps is the PubSub the
// adapter serves (an adapter does not tell its PubSub's name).
func WithRedisAdapter(ps *pubsub.PubSub, a *redisadapter.Adapter) Option {
	return func(s *sources) { s.adapters = append(s.adapters, adapterSource{pubsub: ps.Name(), a: a}) }
}

// WithTracker exports t.Stats(), with pubsub=ps.Name(), node=ps.NodeName(), tracker=name; ps is the
// PubSub the tracker was started on and name its tracker.Config.Name (a Tracker tells neither).
func WithTracker(ps *pubsub.PubSub, name string, t *tracker.Tracker) Option {
	return func(s *sources) {
		s.trackers = append(s.trackers, trackerSource{pubsub: ps.Name(), node: ps.NodeName(), name: name, t: t})
	}
}

var dropReasons = []string{
	"too_large", "malformed", "version", "signature", "stale",
	"duplicate", "misaddressed", "reserved_topic", "dispatcher", "type",
}

// Register creates the counters on meter and registers one callback that observes every source's
// Stats. Unregister the returned Registration to stop observing (the instruments stay, without values).
func Register(meter metric.Meter, opts ...Option) (metric.Registration, error) {
	var src sources
	for _, o := range opts {
		o(&src)
	}
	var (
		insts []metric.Observable
		err   error
	)
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		if err != nil {
			return nil
		}
		var c metric.Int64ObservableCounter
		c, err = meter.Int64ObservableCounter("phxgo."+name, metric.WithUnit(unit), metric.WithDescription(desc))
		insts = append(insts, c)
		return c
	}
	psReceived := counter("pubsub.received", "{frame}", "Frames from other nodes the PubSub accepted.")
	psDropped := counter("pubsub.dropped", "{frame}", "Frames from other nodes the PubSub dropped, by reason.")
	psReordered := counter("pubsub.reordered", "{frame}", "Frames that arrived after a later frame of their sender, delivered once.")
	psRebased := counter("pubsub.rebased", "{stream}", "Unsigned streams restarted by a frame far below their window.")
	psGaps := counter("pubsub.gaps", "{gap}", "Losses found by sequence numbers.")
	psGapsReported := counter("pubsub.gaps_reported", "{gap}", "Gap messages announced on GapTopic.")
	psDuplicateNodes := counter("pubsub.duplicate_nodes", "{frame}", "Frames from another live node using this node's name.")
	raPublished := counter("redisadapter.published", "{frame}", "Frames Redis accepted.")
	raPublishErrors := counter("redisadapter.publish_errors", "{frame}", "Frames whose PUBLISH failed.")
	raReceived := counter("redisadapter.received", "{frame}", "Frames from other nodes the PubSub accepted.")
	raRejected := counter("redisadapter.rejected", "{frame}", "Frames the PubSub dropped (phxgo.pubsub.dropped says why).")
	raDropped := counter("redisadapter.dropped", "{frame}", "Frames the adapter dropped before the PubSub saw them, by reason.")
	raReconnects := counter("redisadapter.reconnects", "{reconnect}", "Subscriptions re-established after a failure.")
	raProbeFailures := counter("redisadapter.probe_failures", "{failure}", "Subscriptions found dead because not even our probe arrived.")
	raDuplicateNodes := counter("redisadapter.duplicate_nodes", "{probe}", "Probes from another live node using this node's name.")
	trDroppedGossip := counter("tracker.dropped_gossip", "{message}", "Gossip messages the tracker dropped.")
	trSendErrors := counter("tracker.send_errors", "{message}", "Gossip that could not be sent.")
	if err != nil {
		return nil, err
	}

	// The attribute sets are fixed: build them once, not at every collection.
	type psAttrs struct {
		node    metric.ObserveOption
		reasons []metric.ObserveOption
	}
	nodeAttrs := func(ps, node string, extra ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(append([]attribute.KeyValue{
			attribute.String("pubsub", ps), attribute.String("node", node)}, extra...)...))
	}
	pa := make([]psAttrs, len(src.pubsubs))
	for i, ps := range src.pubsubs {
		pa[i].node = nodeAttrs(ps.Name(), ps.NodeName())
		for _, r := range dropReasons {
			pa[i].reasons = append(pa[i].reasons, nodeAttrs(ps.Name(), ps.NodeName(), attribute.String("reason", r)))
		}
	}
	aa := make([][2]metric.ObserveOption, len(src.adapters))
	for i, a := range src.adapters {
		aa[i] = [2]metric.ObserveOption{
			nodeAttrs(a.pubsub, a.a.NodeName()),
			nodeAttrs(a.pubsub, a.a.NodeName(), attribute.String("reason", "too_large")),
		}
	}
	ta := make([]metric.ObserveOption, len(src.trackers))
	for i, t := range src.trackers {
		ta[i] = nodeAttrs(t.pubsub, t.node, attribute.String("tracker", t.name))
	}

	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		obs := func(c metric.Int64ObservableCounter, v uint64, attrs metric.ObserveOption) {
			o.ObserveInt64(c, int64(v), attrs)
		}
		for i, ps := range src.pubsubs {
			s, at := ps.Stats(), pa[i]
			obs(psReceived, s.Received, at.node)
			for j, v := range []uint64{
				s.DroppedTooLarge, s.DroppedMalformed, s.DroppedVersion, s.DroppedSignature, s.DroppedStale,
				s.DroppedDuplicate, s.DroppedMisaddressed, s.DroppedReserved, s.DroppedDispatcher, s.DroppedType,
			} {
				obs(psDropped, v, at.reasons[j])
			}
			obs(psReordered, s.Reordered, at.node)
			obs(psRebased, s.Rebased, at.node)
			obs(psGaps, s.Gaps, at.node)
			obs(psGapsReported, s.GapsReported, at.node)
			obs(psDuplicateNodes, s.DuplicateNodes, at.node)
		}
		for i, a := range src.adapters {
			s, at := a.a.Stats(), aa[i][0]
			obs(raPublished, s.Published, at)
			obs(raPublishErrors, s.PublishErrors, at)
			obs(raReceived, s.Received, at)
			obs(raRejected, s.Rejected, at)
			obs(raDropped, s.DroppedTooLarge, aa[i][1])
			obs(raReconnects, s.Reconnects, at)
			obs(raProbeFailures, s.ProbeFailures, at)
			obs(raDuplicateNodes, s.DuplicateNodes, at)
		}
		for i, t := range src.trackers {
			s := t.t.Stats()
			obs(trDroppedGossip, s.DroppedGossip, ta[i])
			obs(trSendErrors, s.SendErrors, ta[i])
		}
		return nil
	}, insts...)
}
