package tracker

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// valueMeta decodes a value's meta straight into the packed form: the same entries and ref as splitRef of
// the sorted entries, whatever the encoding of "phx_ref" (fixstr or str8), a key given twice, or a
// "phx_ref" that is no ref.
func TestValueMetaSplitsRefAsSplitRef(t *testing.T) {
	r1, r2 := newRef().String(), newRef().String()
	type kv struct {
		k    string
		v    any
		str8 bool // encode v (a string) as str8 rather than fixstr
	}
	cases := map[string][]kv{
		"canonical":                 {{k: "status", v: "online"}, {k: MetaRef, v: r1}},
		"str8 ref":                  {{k: MetaRef, v: r1, str8: true}, {k: "a", v: int64(1)}},
		"not a ref":                 {{k: MetaRef, v: "AAAAAAAAAAAAAAA!"}},
		"ref of another length":     {{k: MetaRef, v: "short"}},
		"ref not a string":          {{k: MetaRef, v: int64(7)}},
		"two refs, the last kept":   {{k: MetaRef, v: r1}, {k: MetaRef, v: r2}},
		"ref then not a ref":        {{k: MetaRef, v: r1}, {k: MetaRef, v: "x"}},
		"not a ref then ref":        {{k: MetaRef, v: "x"}, {k: MetaRef, v: r2}},
		"ref, prev and a key twice": {{k: "k", v: "a"}, {k: MetaRefPrev, v: r2}, {k: MetaRef, v: r1}, {k: "k", v: "b"}},
		"long string value":         {{k: "bio", v: string(bytes.Repeat([]byte("x"), 100))}, {k: "s", v: "web"}},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			enc := msgpack.NewEncoder(&buf)
			var want metaEntries
			if err := enc.EncodeMapLen(len(entries)); err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if err := enc.EncodeString(e.k); err != nil {
					t.Fatal(err)
				}
				var err error
				if s, ok := e.v.(string); ok && e.str8 {
					buf.Write([]byte{0xd9, byte(len(s))})
					buf.WriteString(s)
				} else {
					err = enc.Encode(e.v)
				}
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, metaEntry{e.k, e.v})
			}
			wantMD, wantRef := splitRef(sortMetaData(want))
			r := bytes.NewReader(buf.Bytes())
			sd := stateDecoder{r: r, d: msgpack.NewDecoder(r)}
			md, ref, err := sd.valueMeta()
			if err != nil {
				t.Fatal(err)
			}
			if ref != wantRef {
				t.Errorf("ref %v, want %v", ref.String(), wantRef.String())
			}
			got := md.entries()
			if len(got) != len(wantMD) {
				t.Fatalf("entries %v, want %v", got, wantMD)
			}
			for i := range got {
				if got[i] != wantMD[i] {
					t.Errorf("entry %d: %v, want %v", i, got[i], wantMD[i])
				}
			}
			if r.Len() != 0 {
				t.Errorf("%d bytes left", r.Len())
			}
		})
	}
}
