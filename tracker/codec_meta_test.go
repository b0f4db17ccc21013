package tracker

import (
	"bytes"
	"maps"
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
			sd := stateDecoder{buf: buf.Bytes(), r: r, d: msgpack.NewDecoder(r)}
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

// A meta with the same bytes as the one before, up to a canonical "phx_ref" entry at its end, is not
// decoded again: it shares the box of the one before, with its own ref. Anything else is decoded.
func TestValueMetaSharesTheBoxOfTheSameBytes(t *testing.T) {
	online := packMeta(metaEntries{{"device", "web"}, {"status", "online"}})
	away := packMeta(metaEntries{{"device", "web"}, {"status", "away"}})
	r1, r2, r3, r4 := newRef(), newRef(), newRef(), newRef()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	for _, v := range []*value{
		{meta: online, ref: r1},
		{meta: online, ref: r2}, // the same bytes but the ref: shares the box
		{meta: away, ref: r3},   // other bytes: decoded
		{meta: away, ref: r4},   // shares the box of the one before
		{meta: online},          // no ref: decoded
	} {
		if err := encodeValueMeta(enc, v); err != nil {
			t.Fatal(err)
		}
	}
	// A meta with the bytes of the one before and a "phx_ref" that is not canonical: decoded, the
	// string kept as an entry.
	if err := encodeValueMeta(enc, &value{meta: away, ref: r4}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	canon := r4.String()
	i := bytes.LastIndex(b, []byte(canon))
	b[i+15] = '!'
	r := bytes.NewReader(b)
	sd := stateDecoder{buf: b, r: r, d: msgpack.NewDecoder(r)}
	var got []metaData
	var refs []refID
	for range 6 {
		md, ref, err := sd.valueMeta()
		if err != nil {
			t.Fatal(err)
		}
		got, refs = append(got, md), append(refs, ref)
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes left", r.Len())
	}
	wantRefs := []refID{r1, r2, r3, r4, {}, {}}
	for i, ref := range refs {
		if ref != wantRefs[i] {
			t.Errorf("meta %d: ref %q, want %q", i, ref.String(), wantRefs[i].String())
		}
	}
	if got[1].box != got[0].box || got[3].box != got[2].box {
		t.Errorf("metas with the same bytes do not share a box")
	}
	if got[2].box == got[0].box || got[4].box == got[0].box || got[5].box == got[3].box {
		t.Errorf("a box is shared by metas of other bytes")
	}
	for i, want := range []map[string]any{
		{"device": "web", "status": "online"}, {"device": "web", "status": "online"},
		{"device": "web", "status": "away"}, {"device": "web", "status": "away"},
		{"device": "web", "status": "online"},
		{"device": "web", "status": "away", MetaRef: canon[:15] + "!"},
	} {
		if g := maps.Collect(metaEntriesAll(got[i].entries())); !maps.Equal(g, want) {
			t.Errorf("meta %d: %v, want %v", i, g, want)
		}
	}
}

func metaEntriesAll(md metaEntries) func(func(string, any) bool) {
	return func(yield func(string, any) bool) {
		for _, e := range md {
			if !yield(e.key, e.val) {
				return
			}
		}
	}
}
