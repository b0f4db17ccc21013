package presence

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/phxgo/pubsub/tracker"
)

// Presences are a topic's presences grouped by key: Phoenix.Presence's {key: {metas: [...]}}. It
// marshals to JSON in that shape.
type Presences map[string]Entry

// Entry is what one key holds: the metas of its presences (one per owner tracking the key, on any node:
// a user with two tabs open has two), and the fields a Config.Fetch added.
//
// It marshals to JSON as {"metas": [...], field: value, ...}: Phoenix's %{metas: [...], user: ...}.
// The meta maps are shared with the tracker and with every other receiver of the same list or diff:
// treat them as read-only.
type Entry struct {
	// Metas are the presences' metadata, each with its "phx_ref" (tracker.MetaRef) and, after an update,
	// "phx_ref_prev" (tracker.MetaRefPrev). They are ordered by node, then by owner in the order the
	// owners first tracked something on that node, so that a list is the same from call to call.
	Metas []map[string]any
	// Fields are the extra fields a Config.Fetch set, marshalled beside "metas". Nil: none. The key
	// "metas" is refused by MarshalJSON.
	Fields map[string]any
}

// MarshalJSON encodes e as {"metas": [...]} followed by its Fields.
func (e Entry) MarshalJSON() ([]byte, error) {
	metas := e.Metas
	if metas == nil {
		metas = []map[string]any{} // [] rather than null: clients iterate over it
	}
	if len(e.Fields) == 0 {
		return json.Marshal(struct {
			Metas []map[string]any `json:"metas"`
		}{metas})
	}
	if _, ok := e.Fields["metas"]; ok {
		return nil, fmt.Errorf("presence: Entry.Fields has the key %q, which is the metas'", "metas")
	}
	m := make(map[string]any, len(e.Fields)+1)
	for k, v := range e.Fields {
		m[k] = v
	}
	m["metas"] = metas
	return json.Marshal(m)
}

// UnmarshalJSON decodes {"metas": [...], ...}: every key other than "metas" goes to Fields.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	var out Entry
	if raw, ok := m["metas"]; ok {
		if err := json.Unmarshal(raw, &out.Metas); err != nil {
			return fmt.Errorf("presence: metas: %w", err)
		}
		delete(m, "metas")
	}
	for k, raw := range m {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if out.Fields == nil {
			out.Fields = make(map[string]any, len(m))
		}
		out.Fields[k] = v
	}
	*e = out
	return nil
}

// Keys returns the keys of ps, sorted.
func (ps Presences) Keys() []string {
	keys := make([]string, 0, len(ps))
	for k := range ps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// group turns the tracker's presences into Phoenix.Presence's shape. Nil for none.
func group(list []tracker.Presence) Presences {
	if len(list) == 0 {
		return nil
	}
	slices.SortFunc(list, comparePresence)
	out := make(Presences)
	for _, p := range list {
		e := out[p.Key]
		e.Metas = append(e.Metas, p.WithRefs())
		out[p.Key] = e
	}
	return out
}

// comparePresence orders presences by node, then by owner id (a base-36 counter per node: shorter ids
// are older), then by ref: a stable order that follows when the owners first tracked.
func comparePresence(a, b tracker.Presence) int {
	if c := strings.Compare(a.Replica, b.Replica); c != 0 {
		return c
	}
	if c := compareOwner(a.Owner, b.Owner); c != 0 {
		return c
	}
	return strings.Compare(a.Ref, b.Ref)
}

func compareOwner(a, b string) int {
	na, errA := strconv.ParseUint(a, 36, 64)
	nb, errB := strconv.ParseUint(b, 36, 64)
	if errA != nil || errB != nil { // not the tracker's counter: plain order
		return strings.Compare(a, b)
	}
	switch {
	case na < nb:
		return -1
	case na > nb:
		return 1
	}
	return 0
}
