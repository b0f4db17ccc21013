package tracker

import (
	"log/slog"
	"sync/atomic"
)

// dropReason is why a gossip message (or a part of one) was refused. Every refusal is counted by reason
// (Stats.DroppedGossipByReason) and logged at most once per ratelog interval per reason.
type dropReason int

const (
	dropNotBytes         dropReason = iota // the payload is not []byte
	dropMalformed                          // bad structure, bad delta or extract, bad assembled message
	dropOwnName                            // sent in this node's name
	dropPermdowned                         // from a permdowned replica or an older incarnation
	dropUnasked                            // a transfer this shard did not ask for, or not recently
	dropForeignDelta                       // a heartbeat whose delta holds other replicas' changes
	dropTooManyReplicas                    // a new replica beyond MaxReplicas
	dropTooManyClocks                      // clocks with more replicas than MaxReplicas
	dropUnknownRequester                   // a transfer request from a replica this shard does not know
	dropRequestRate                        // a transfer request answered too recently, or being answered
	dropBadChunk                           // a chunk out of sequence or malformed
	dropOrphanChunk                        // a chunk whose message's first chunk never came (lost in a gap)
	dropTooLarge                           // a chunked message over MaxTransferSize
	dropUnseenRemove                       // removes of dots the sender's own clocks show it never saw
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	dropNotBytes:         "not_bytes",
	dropMalformed:        "malformed",
	dropOwnName:          "own_name",
	dropPermdowned:       "permdowned",
	dropUnasked:          "unasked_transfer",
	dropForeignDelta:     "foreign_delta",
	dropTooManyReplicas:  "too_many_replicas",
	dropTooManyClocks:    "too_many_clocks",
	dropUnknownRequester: "unknown_requester",
	dropRequestRate:      "request_rate",
	dropBadChunk:         "bad_chunk",
	dropOrphanChunk:      "orphan_chunk",
	dropTooLarge:         "too_large",
	dropUnseenRemove:     "unseen_remove",
}

// String returns the reason's name, as Stats.DroppedGossipByReason keys it.
func (r dropReason) String() string { return dropReasonNames[r] }

type dropCounters [numDropReasons]atomic.Uint64

// drop counts a refused message (or part of one) and logs it, rate-limited per reason.
func (t *Tracker) drop(r dropReason, err error) {
	t.stats.droppedGossip.Add(1)
	t.stats.dropped[r].Add(1)
	attrs := []slog.Attr{slog.String("reason", r.String())}
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	t.dropLog.LogAt(slog.LevelWarn, r.String(), "tracker: dropped gossip", attrs...)
}

func (c *dropCounters) snapshot() map[string]uint64 {
	out := make(map[string]uint64)
	for i := range c {
		if n := c[i].Load(); n > 0 {
			out[dropReason(i).String()] = n
		}
	}
	return out
}
