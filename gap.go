package pubsub

import "log/slog"

// GapTopic is the reserved topic on which a PubSub announces, to this node's subscribers only, that
// messages from other nodes may have been lost: its adapter reconnected, or sequence numbers showed
// frames that never arrived. Every message on it has a Gap as payload: no broadcast function accepts
// the topic (ErrReservedTopic), and frames on it from the network are dropped. Subscribe to it like any
// topic; the gap arrives in the mailbox in order with the messages around it, so a subscriber knows
// that something before it may be missing. The tracker subscribes to it to resynchronise.
const GapTopic = "phx:gap"

// Gap is the payload of every message on GapTopic.
type Gap struct {
	Node   string // this node's name
	Reason error  // why messages may have been lost
}

// reserved reports whether topic is reserved for the PubSub itself.
func reserved(topic string) bool { return topic == GapTopic }

func (ps *PubSub) handleGap(reason error) {
	if ps.closed.Load() {
		return
	}
	ps.stats.gapsReported.Add(1)
	ps.rlog.LogAt(slog.LevelWarn, "gap", "pubsub: messages from other nodes may have been lost",
		slog.String("pubsub", ps.name), slog.String("node", ps.nodeName), slog.Any("reason", reason))
	ps.deliver(nil, nil, Message{Topic: GapTopic, Payload: Gap{Node: ps.nodeName, Reason: reason}})
}
