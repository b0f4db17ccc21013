package otelexporter

import (
	"context"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

var dropReasons = []string{
	"too_large", "malformed", "version", "signature", "stale",
	"duplicate", "misaddressed", "reserved_topic", "dispatcher", "type", "misrouted",
}

// gossipDropReasons are the reasons tracker.Stats.DroppedGossipByReason may hold (docs/tracker.md),
// observed even before they occur.
var gossipDropReasons = []string{
	"not_bytes", "malformed", "own_name", "permdowned", "unasked_transfer", "foreign_delta",
	"too_many_replicas", "too_many_clocks", "unknown_requester", "request_rate", "bad_chunk",
	"orphan_chunk", "too_large", "unseen_remove",
}

// Register creates the instruments on meter and registers one callback that observes every source's
// Stats. Unregister the returned Registration to stop observing (the instruments stay, without values).
func Register(meter metric.Meter, opts ...Option) (metric.Registration, error) {
	var src sources
	for _, o := range opts {
		o(&src)
	}
	in, all, err := newInstruments(meter)
	if err != nil {
		return nil, err
	}

	// The attribute sets are fixed: build them once, not at every collection.
	type withReasons struct {
		node    metric.ObserveOption
		reasons []metric.ObserveOption
	}
	pa := make([]withReasons, len(src.pubsubs))
	for i, ps := range src.pubsubs {
		pa[i].node = attrs(ps.Name(), ps.NodeName())
		for _, r := range dropReasons {
			pa[i].reasons = append(pa[i].reasons, attrs(ps.Name(), ps.NodeName(), attribute.String("reason", r)))
		}
	}
	ra := make([]withReasons, len(src.redis))
	for i, a := range src.redis {
		ra[i] = withReasons{attrs(a.pubsub, a.a.NodeName()),
			[]metric.ObserveOption{attrs(a.pubsub, a.a.NodeName(), attribute.String("reason", "too_large"))}}
	}
	pha := make([]metric.ObserveOption, len(src.phoenix))
	for i, a := range src.phoenix {
		pha[i] = attrs(a.pubsub, a.a.NodeName())
	}
	ta := make([]withReasons, len(src.trackers))
	for i, t := range src.trackers {
		tr := attribute.String("tracker", t.name)
		ta[i].node = attrs(t.pubsub, t.node, tr)
		for _, r := range gossipDropReasons {
			ta[i].reasons = append(ta[i].reasons, attrs(t.pubsub, t.node, tr, attribute.String("reason", r)))
		}
	}
	pra := make([]metric.ObserveOption, len(src.presences))
	for i, p := range src.presences {
		pra[i] = attrs(p.pubsub, p.node, attribute.String("tracker", p.name))
	}
	fla := make([]metric.ObserveOption, len(src.fastlanes))
	for i, f := range src.fastlanes {
		fla[i] = attrs(f.pubsub, f.node, attribute.String("dispatcher", f.name))
	}
	ppa := make([]metric.ObserveOption, len(src.phoenixPresences))
	for i, p := range src.phoenixPresences {
		ppa[i] = attrs(p.pubsub, p.node, attribute.String("tracker", p.name))
	}

	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		count := func(c metric.Int64Observable, v uint64, at metric.ObserveOption) { o.ObserveInt64(c, int64(v), at) }
		for i, ps := range src.pubsubs {
			s, at := ps.Stats(), pa[i]
			count(in.psReceived, s.Received, at.node)
			for j, v := range []uint64{
				s.DroppedTooLarge, s.DroppedMalformed, s.DroppedVersion, s.DroppedSignature, s.DroppedStale,
				s.DroppedDuplicate, s.DroppedMisaddressed, s.DroppedReserved, s.DroppedDispatcher, s.DroppedType,
				s.DroppedMisrouted,
			} {
				count(in.psDropped, v, at.reasons[j])
			}
			count(in.psReordered, s.Reordered, at.node)
			count(in.psRebased, s.Rebased, at.node)
			count(in.psGaps, s.Gaps, at.node)
			count(in.psGapsReported, s.GapsReported, at.node)
			count(in.psDuplicateNodes, s.DuplicateNodes, at.node)
		}
		for i, a := range src.redis {
			s, r, at := a.a.Stats(), a.a.Routing(), ra[i].node
			count(in.raPublished, s.Published, at)
			count(in.raPublishErrors, s.PublishErrors, at)
			count(in.raReceived, s.Received, at)
			count(in.raRejected, s.Rejected, at)
			count(in.raDropped, s.DroppedTooLarge, ra[i].reasons[0])
			count(in.raReconnects, s.Reconnects, at)
			count(in.raProbeFailures, s.ProbeFailures, at)
			count(in.raDuplicateNodes, s.DuplicateNodes, at)
			count(in.raRouteSubscribes, s.RouteSubscribes, at)
			count(in.raRouteUnsubscribes, s.RouteUnsubscribes, at)
			count(in.raRouteUnexpected, s.RouteUnexpected, at)
			o.ObserveInt64(in.raRouteBuckets, int64(r.Buckets), at)
			o.ObserveInt64(in.raRouteHeld, int64(r.Held), at)
			o.ObserveInt64(in.raRouteEffective, int64(r.Effective), at)
			o.ObserveInt64(in.raRoutePending, int64(r.Pending), at)
		}
		for i, a := range src.phoenix {
			s, at := a.a.Stats(), pha[i]
			count(in.phPublished, s.Published, at)
			count(in.phPublishErrors, s.PublishErrors, at)
			count(in.phRefused, s.Refused, at)
			count(in.phReceived, s.Received, at)
			count(in.phDelivered, s.Delivered, at)
			count(in.phNotForUs, s.NotForUs, at)
			count(in.phIgnored, s.Ignored, at)
			count(in.phUndecodable, s.Undecodable, at)
			count(in.phGaps, s.Gaps, at)
		}
		for i, t := range src.trackers {
			s, at := t.t.Stats(), ta[i]
			for j, r := range gossipDropReasons {
				count(in.trDroppedGossip, s.DroppedGossipByReason[r], at.reasons[j])
			}
			// A reason of a newer tracker than this list knows is observed too, from its first drop.
			for r, v := range s.DroppedGossipByReason {
				if !slices.Contains(gossipDropReasons, r) {
					count(in.trDroppedGossip, v, attrs(t.pubsub, t.node,
						attribute.String("tracker", t.name), attribute.String("reason", r)))
				}
			}
			count(in.trSendErrors, s.SendErrors, at.node)
			count(in.trCoalescedHeartbeats, s.CoalescedHeartbeats, at.node)
			count(in.trCoalescedDiffs, s.CoalescedDiffs, at.node)
			count(in.trStalledTransfers, s.StalledTransfers, at.node)
		}
		for i, p := range src.presences {
			s := p.p.Stats()
			count(in.prDelivered, s.Delivered, pra[i])
			count(in.prDeliveryErrors, s.DeliveryErrors, pra[i])
		}
		for i, p := range src.phoenixPresences {
			s, at := p.t.Stats(), ppa[i]
			count(in.ppHeartbeats, s.Heartbeats, at)
			count(in.ppTransfersSent, s.TransfersSent, at)
			count(in.ppTransfersServed, s.TransfersServed, at)
			count(in.ppReceived, s.Received, at)
			count(in.ppDroppedGossip, s.DroppedGossip, at)
			count(in.ppSendErrors, s.SendErrors, at)
			count(in.ppDroppedDiffs, s.DroppedDiffs, at)
			o.ObserveInt64(in.ppReplicas, int64(s.Replicas), at)
			o.ObserveInt64(in.ppPresences, int64(s.Presences), at)
		}
		for i, f := range src.fastlanes {
			s := f.d.Stats()
			count(in.flEncodes, s.Encodes, fla[i])
			count(in.flEncodeErrors, s.EncodeErrors, fla[i])
			count(in.flWrites, s.Writes, fla[i])
			count(in.flDrops, s.Drops, fla[i])
			count(in.flNilWriters, s.NilWriters, fla[i])
		}
		return nil
	}, all...)
}

// attrs is the attribute set pubsub=ps, node=node and extra.
func attrs(ps, node string, extra ...attribute.KeyValue) metric.ObserveOption {
	return metric.WithAttributeSet(attribute.NewSet(append([]attribute.KeyValue{
		attribute.String("pubsub", ps), attribute.String("node", node)}, extra...)...))
}
