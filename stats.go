package pubsub

import "sync/atomic"

// Stats are a PubSub's counters of what it received from other nodes, since New. Every field only
// grows; export them to your metrics system as counters. Counters of the transport itself (frames
// published, reconnects) are the adapter's (redisadapter.Stats).
type Stats struct {
	Received uint64 // frames (or carried messages) from other nodes accepted, whether or not a local subscriber wanted them

	// Frames dropped on receipt, by reason. Each drop is also logged, at most once per reason per 10 s.
	DroppedTooLarge     uint64 // over the format's hard cap (adapters enforce their own, lower, limit before)
	DroppedMalformed    uint64 // not a frame, truncated, bad fields, or a payload that does not decode
	DroppedVersion      uint64 // another protocol version
	DroppedSignature    uint64 // with Config.Secrets: unsigned, or signed with no key of ours or for another PubSub
	DroppedStale        uint64 // with Config.Secrets: sent before this node started, too long ago, or below the replay window
	DroppedDuplicate    uint64 // seen already (a replay, or a transport's retry)
	DroppedMisaddressed uint64 // a direct frame for another node
	DroppedReserved     uint64 // a frame on a reserved topic (GapTopic)
	DroppedDispatcher   uint64 // names a dispatcher this node does not have
	DroppedType         uint64 // names a payload type this node has not registered
	DroppedMisrouted    uint64 // a broadcast that arrived on another route than its topic's (TopicRouter)

	Reordered      uint64 // frames that arrived after a later frame of their sender, delivered once
	Rebased        uint64 // unsigned streams restarted by a frame far below their window (forged or corrupt numbers)
	Gaps           uint64 // losses found by sequence numbers (frames that never arrived)
	GapsReported   uint64 // Gap messages announced on GapTopic: Gaps plus the adapter's reconnects
	DuplicateNodes uint64 // frames from another live node using this node's name
}

// Dropped returns the total of the Dropped… counters.
func (s Stats) Dropped() uint64 {
	return s.DroppedTooLarge + s.DroppedMalformed + s.DroppedVersion + s.DroppedSignature + s.DroppedStale +
		s.DroppedDuplicate + s.DroppedMisaddressed + s.DroppedReserved + s.DroppedDispatcher + s.DroppedType +
		s.DroppedMisrouted
}

// Stats returns the PubSub's counters.
func (ps *PubSub) Stats() Stats {
	c := &ps.stats
	return Stats{
		Received:            c.received.Load(),
		DroppedTooLarge:     c.tooLarge.Load(),
		DroppedMalformed:    c.malformed.Load(),
		DroppedVersion:      c.version.Load(),
		DroppedSignature:    c.signature.Load(),
		DroppedStale:        c.stale.Load(),
		DroppedDuplicate:    c.duplicate.Load(),
		DroppedMisaddressed: c.misaddressed.Load(),
		DroppedReserved:     c.reserved.Load(),
		DroppedDispatcher:   c.dispatcher.Load(),
		DroppedType:         c.typ.Load(),
		DroppedMisrouted:    c.misrouted.Load(),
		Reordered:           c.reordered.Load(),
		Rebased:             c.rebased.Load(),
		Gaps:                c.gaps.Load(),
		GapsReported:        c.gapsReported.Load(),
		DuplicateNodes:      c.duplicateNodes.Load(),
	}
}

type counters struct {
	received                                                  atomic.Uint64
	tooLarge, malformed, version, signature, stale, duplicate atomic.Uint64
	misaddressed, reserved, dispatcher, typ, misrouted        atomic.Uint64
	reordered, rebased, gaps, gapsReported, duplicateNodes    atomic.Uint64
}
