package presence_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/phxgo/pubsub/presence"
)

// FuzzEntryUnmarshalJSON: Entry.UnmarshalJSON (a client may send entries back) never panics, and what it
// accepts marshals again, to JSON that decodes to the same Entry.
func FuzzEntryUnmarshalJSON(f *testing.F) {
	for _, s := range []string{`{"metas":[{"phx_ref":"a"}]}`, `{"metas":[],"user":{"n":1}}`, `{}`, `null`, `{"metas":null}`, `{"metas":[null]}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e presence.Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("%q decoded to %#v, which does not marshal: %v", b, e, err)
		}
		var again presence.Entry
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("%q: its own output %q does not decode: %v", b, out, err)
		}
		if len(e.Metas) == 0 && len(again.Metas) == 0 {
			e.Metas, again.Metas = nil, nil // null and [] both mean none
		}
		if !reflect.DeepEqual(e, again) {
			t.Fatalf("%q → %#v → %q → %#v", b, e, out, again)
		}
	})
}
