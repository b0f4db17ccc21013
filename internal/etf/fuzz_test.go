package etf

import (
	"bytes"
	"errors"
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

// FuzzUnmarshal: no input panics Unmarshal into a struct with a field of every kind; what it accepts,
// Marshal writes, and that term decodes back and re-encodes to the same bytes (the struct path's
// round trip); into an any it agrees with Decode.
func FuzzUnmarshal(f *testing.F) {
	frames, err := readGolden()
	if err != nil {
		f.Fatal(err)
	}
	for _, g := range frames {
		f.Add(g.frame)
	}
	s := sample()
	for _, v := range []any{&s, typicalValue(), typical(), []any{&s, nil}} {
		b, err := Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	lim := Limits{MaxSize: 1 << 20, MaxDepth: 32}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a any
		aerr := UnmarshalWith(b, &a, lim)
		v, derr := Decode(b, lim)
		if (aerr == nil) != (derr == nil) || aerr != nil && aerr.Error() != derr.Error() || aerr == nil && !reflect.DeepEqual(a, v) {
			t.Fatalf("into any: %#v, %v; Decode: %#v, %v", a, aerr, v, derr)
		}
		for _, target := range []func() any{
			func() any { return new(everything) },
			func() any { return new([]everything) },
			func() any { return new(map[string]nested) },
		} {
			e := target()
			if err := UnmarshalWith(b, e, lim); err != nil {
				if derr == nil {
					var te *UnmarshalTypeError
					if !errors.As(err, &te) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrDuplicateKey) {
						t.Fatalf("Decode accepts %x but Unmarshal into %T fails with %v", b, e, err)
					}
				}
				continue
			}
			once, err := Marshal(e)
			if err != nil {
				t.Fatalf("%#v does not encode: %v", e, err)
			}
			back := target()
			if err := UnmarshalWith(once, back, lim); err != nil {
				t.Fatalf("%x (from %#v) does not unmarshal: %v", once, e, err)
			}
			twice, err := Marshal(back)
			if err != nil || !bytes.Equal(once, twice) {
				t.Fatalf("round trip changed the term: %v\n%x\n%x", err, once, twice)
			}
		}
	})
}

// FuzzSkip: skip, which checks a term without building it (for the keys Unmarshal ignores and for
// RawTerm), accepts exactly what Decode accepts, up to the same byte, and a RawTerm of it decodes
// to Decode's value.
func FuzzSkip(f *testing.F) {
	frames, err := readGolden()
	if err != nil {
		f.Fatal(err)
	}
	for _, g := range frames {
		f.Add(g.frame)
	}
	f.Add([]byte{version, tagMap, 0, 0, 0, 2, tagSmallInteger, 7, tagNil, tagInteger, 0, 0, 0, 7, tagNil})
	f.Add([]byte{version, tagMap, 0, 0, 0, 2, tagAtom, 0, 1, 'k', tagNil, tagSmallAtomUTF8, 1, 'k', tagNil})
	lim := Limits{MaxSize: 1 << 20, MaxDepth: 32, MaxAtoms: 64}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != version || len(b) > 1 && b[1] == tagCompressed {
			return
		}
		whole := decoder{b: b[1:], lim: lim.withDefaults()}
		_, werr := whole.term()
		skipped := decoder{b: b[1:], lim: lim.withDefaults()}
		serr := skipped.skip()
		if (werr == nil) != (serr == nil) || werr == nil && whole.off != skipped.off {
			t.Fatalf("term: %v at %d; skip: %v at %d", werr, whole.off, serr, skipped.off)
		}
		var raw RawTerm
		rerr := UnmarshalString(string(b), &raw, lim)
		v, derr := Decode(b, lim)
		if (rerr == nil) != (derr == nil) {
			t.Fatalf("into a RawTerm: %v; Decode: %v", rerr, derr)
		}
		if rerr == nil {
			if back, err := DecodeRawTerm(raw, lim); err != nil || !reflect.DeepEqual(back, v) {
				t.Fatalf("the RawTerm decodes to %#v, %v; want %#v", back, err, v)
			}
		}
	})
}
