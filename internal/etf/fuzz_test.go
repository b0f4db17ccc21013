package etf

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecode: no input panics, and whatever decodes re-encodes to a term that decodes to the same value
// and re-encodes to the same bytes (the encoder is deterministic).
func FuzzDecode(f *testing.F) {
	frames, err := readGolden()
	if err != nil {
		f.Fatal(err)
	}
	for _, g := range frames {
		f.Add(g.frame)
	}
	f.Add([]byte{version, tagList, 0xff, 0xff, 0xff, 0xff, tagNil})
	f.Add([]byte{version, tagMap, 0, 0, 0, 2, tagAtom, 0, 1, 'k', tagNil, tagSmallAtomUTF8, 1, 'k', tagNil})
	lim := Limits{MaxSize: 1 << 20, MaxDepth: 32}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Decode(b, lim)
		if err != nil {
			return
		}
		var enc Encoder
		once, err := enc.Append(nil, v)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", v, err)
		}
		back, err := Decode(once, lim)
		if err != nil {
			t.Fatalf("re-encoded %x does not decode: %v", once, err)
		}
		if !reflect.DeepEqual(back, v) {
			t.Fatalf("round trip changed the value:\n%#v\n%#v", v, back)
		}
		twice, _ := enc.Append(nil, back)
		if !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not deterministic:\n%x\n%x", once, twice)
		}
	})
}
