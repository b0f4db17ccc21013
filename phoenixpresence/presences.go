package phoenixpresence

import (
	"cmp"
	"slices"

	"github.com/phxgo/pubsub/presence"
	"github.com/phxgo/pubsub/tracker"
)

// Presences returns the presences of topic grouped by key, in package presence's shape: what
// MyApp.Presence.list(topic) returns on the Elixir nodes, %{key => %{metas: [...]}} (which it
// marshals to as JSON), Fetch aside. The metas of a key are ordered by node, then by owner (pid).
// Nil for none.
func (t *Tracker) Presences(topic string) presence.Presences {
	return group(t.List(topic))
}

func group(list []tracker.Presence) presence.Presences {
	if len(list) == 0 {
		return nil
	}
	slices.SortFunc(list, func(a, b tracker.Presence) int {
		if c := cmp.Compare(a.Replica, b.Replica); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Owner, b.Owner); c != 0 {
			return c
		}
		return cmp.Compare(a.Ref, b.Ref)
	})
	out := make(presence.Presences)
	for _, p := range list {
		e := out[p.Key]
		e.Metas = append(e.Metas, p.WithRefs())
		out[p.Key] = e
	}
	return out
}
