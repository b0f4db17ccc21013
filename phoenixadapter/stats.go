package phoenixadapter

import "sync/atomic"

// Stats are the adapter's counters since New.
type Stats struct {
	// Published counts frames published; PublishErrors the PUBLISH calls that failed.
	Published, PublishErrors uint64
	// Refused counts broadcasts refused before anything was published (an unencodable payload, an
	// atom outside Config.Atoms, a frame over MaxMessageSize, an unmapped dispatcher).
	Refused uint64
	// Received counts frames read from the channel, this node's own included.
	Received uint64
	// Delivered counts messages handed to the PubSub (which may still drop them: PubSub.Stats).
	Delivered uint64
	// NotForUs counts frames the receive rule skips: this node's own broadcasts, and direct broadcasts
	// to other nodes.
	NotForUs uint64
	// Ignored counts well-formed terms that are not phoenix_pubsub_redis 3 frames this node can deliver
	// (another version, a topic that is not a binary, a dispatcher module with no Go counterpart):
	// Phoenix ignores the first kind too.
	Ignored uint64
	// Undecodable counts frames that are not a term within the limits: dropped, logged at a bounded rate.
	Undecodable uint64
	// Gaps counts the moments messages may have been lost (a reconnect), reported to the PubSub.
	Gaps uint64
}

type stats struct {
	published, publishErrors, refused, received, delivered, notForUs, ignored, undecodable, gaps atomic.Uint64
}

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats {
	s := &a.stats
	return Stats{
		Published: s.published.Load(), PublishErrors: s.publishErrors.Load(), Refused: s.refused.Load(),
		Received: s.received.Load(), Delivered: s.delivered.Load(), NotForUs: s.notForUs.Load(),
		Ignored: s.ignored.Load(), Undecodable: s.undecodable.Load(), Gaps: s.gaps.Load(),
	}
}
