package redisadapter

import "sync/atomic"

// Stats are an adapter's counters since it started. Every field only grows. Read them with
// Adapter.Stats; export them to your metrics system as counters.
type Stats struct {
	Published     uint64 // frames Redis accepted (broadcasts, direct broadcasts and probes)
	PublishErrors uint64 // frames whose PUBLISH failed (the caller got the error)
	Received      uint64 // frames from other nodes delivered to the PubSub

	// Frames dropped on receipt, by reason.
	DroppedTooLarge   uint64 // over MaxMessageSize
	DroppedMalformed  uint64 // not a frame, truncated, bad fields, bad payload
	DroppedVersion    uint64 // another protocol version
	DroppedSignature  uint64 // unsigned or badly signed while a Secret is set
	DroppedDispatcher uint64 // names a dispatcher this node does not have
	DroppedType       uint64 // names a payload type this node has not registered
	DroppedMisrouted  uint64 // a direct frame for another node on this node's channel
	DroppedDuplicate  uint64 // a frame seen already (a PUBLISH retried by a client after Redis ran it)

	Gaps           uint64 // sequence jumps: frames of another node lost between it and us
	Reconnects     uint64 // subscriptions re-established after a failure (each reported as a gap)
	ProbeFailures  uint64 // subscriptions found dead because nothing, not even our probe, arrived
	DuplicateNodes uint64 // frames from another live node using this node's name
}

// counters is the live form of Stats.
type counters struct {
	published, publishErrors, received                                             atomic.Uint64
	tooLarge, malformed, version, signature, dispatcher, typ, misrouted, duplicate atomic.Uint64
	gaps, reconnects, probeFailures, duplicateNodes                                atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Published:         c.published.Load(),
		PublishErrors:     c.publishErrors.Load(),
		Received:          c.received.Load(),
		DroppedTooLarge:   c.tooLarge.Load(),
		DroppedMalformed:  c.malformed.Load(),
		DroppedVersion:    c.version.Load(),
		DroppedSignature:  c.signature.Load(),
		DroppedDispatcher: c.dispatcher.Load(),
		DroppedType:       c.typ.Load(),
		DroppedMisrouted:  c.misrouted.Load(),
		DroppedDuplicate:  c.duplicate.Load(),
		Gaps:              c.gaps.Load(),
		Reconnects:        c.reconnects.Load(),
		ProbeFailures:     c.probeFailures.Load(),
		DuplicateNodes:    c.duplicateNodes.Load(),
	}
}

// Dropped returns the total of the Dropped… counters.
func (s Stats) Dropped() uint64 {
	return s.DroppedTooLarge + s.DroppedMalformed + s.DroppedVersion + s.DroppedSignature +
		s.DroppedDispatcher + s.DroppedType + s.DroppedMisrouted + s.DroppedDuplicate
}
