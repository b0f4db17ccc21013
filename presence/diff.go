package presence

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/tracker"
)

// Diff is what changed in a topic, grouped by key: the payload of the messages Presence delivers to the
// topic's subscribers (Phoenix's presence_diff, Event). Joins holds the presences that joined, Leaves those
// that left; an update is its key in both, the new meta (in Joins) naming the old one's "phx_ref" in its
// "phx_ref_prev". Either may be empty, never both. It marshals to JSON as {"joins": {...}, "leaves": {...}}.
//
// A Diff is shared by every subscriber that receives it: treat it as read-only.
type Diff struct {
	Joins  Presences `json:"joins"`
	Leaves Presences `json:"leaves"`
}

// handleDiff is the tracker's handler: it delivers each topic's diff to the topic's subscribers on this
// node, then calls the user's handler.
func (p *Presence) handleDiff(diff map[string]tracker.Diff) {
	for topic, d := range diff {
		p.deliver(topic, d)
	}
	if p.handler != nil {
		p.handler.HandleDiff(diff)
	}
}

// deliver sends one topic's diff to its local subscribers: LocalBroadcast, because the handler runs on
// every node for every change.
func (p *Presence) deliver(topic string, d tracker.Diff) {
	msg, err := p.diffFor(topic, d)
	if err == nil {
		err = p.ps.LocalBroadcast(topic, msg, p.opts...)
	}
	switch {
	case err == nil:
		p.delivered.Add(1)
	case errors.Is(err, pubsub.ErrClosed): // shutting down: nobody left to tell
	default:
		p.deliveryErrors.Add(1)
		p.rlog.LogAt(slog.LevelError, "deliver", "presence: a presence_diff could not be delivered",
			slog.String("topic", topic), slog.Any("err", err))
	}
}

// diffFor builds the Diff of d, through Fetch, turning a panic in Fetch into an error.
func (p *Presence) diffFor(topic string, d tracker.Diff) (out Diff, err error) {
	out = Diff{Joins: group(d.Joins), Leaves: group(d.Leaves)}
	if out.Joins == nil {
		out.Joins = Presences{}
	}
	if out.Leaves == nil {
		out.Leaves = Presences{}
	}
	if p.fetch == nil {
		return out, nil
	}
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("presence: Fetch panicked: %v", v)
		}
	}()
	if len(out.Joins) > 0 {
		out.Joins = p.fetch(topic, out.Joins)
	}
	if len(out.Leaves) > 0 {
		out.Leaves = p.fetch(topic, out.Leaves)
	}
	return out, nil
}
