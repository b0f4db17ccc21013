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
	// Scope limits the gap to the topics it affects: with an adapter that routes by topic
	// (TopicRouter), a loss found on one route (a bucket of topics) is scoped to that route's topics.
	// Nil means that messages on any topic may have been lost (a reconnect, an adapter that does not
	// route). Every subscriber of GapTopic receives every gap, whatever its scope: use Affects.
	Scope GapScope
}

// Affects reports whether messages on topic may have been lost: true for an unscoped gap.
func (g Gap) Affects(topic string) bool { return g.Scope == nil || g.Scope.Affects(topic) }

// reserved reports whether topic is reserved for the PubSub itself.
func reserved(topic string) bool { return topic == GapTopic }

func (ps *PubSub) handleGap(reason error) { ps.handleScopedGap(nil, reason) }

// handleScopedGap announces a gap limited to scope (nil: anything).
func (ps *PubSub) handleScopedGap(scope GapScope, reason error) {
	if ps.closed.Load() {
		return
	}
	ps.stats.gapsReported.Add(1)
	attrs := []slog.Attr{slog.String("pubsub", ps.name), slog.String("node", ps.nodeName), slog.Any("reason", reason)}
	if scope != nil {
		attrs = append(attrs, slog.String("scope", scope.String()))
	}
	ps.rlog.LogAt(slog.LevelWarn, "gap", "pubsub: messages from other nodes may have been lost", attrs...)
	ps.deliver(nil, nil, Message{Topic: GapTopic, Payload: Gap{Node: ps.nodeName, Reason: reason, Scope: scope}})
}
