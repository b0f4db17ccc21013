package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func compressed(t testing.TB, declared uint32, term []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, 9)
	w.Write(term)
	w.Close()
	out := []byte{version, tagCompressed, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[2:], declared)
	return append(out, buf.Bytes()...)
}

// allocs reports the bytes Decode allocates for b.
func allocBytes(b []byte, lim Limits) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	Decode(b, lim)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hostileCase is a hostile input and the error Decode must return for it.
type hostileCase struct {
	name string
	in   []byte
	lim  Limits
	want error
}

// hostileCases is the hostile corpus: every input Decode must refuse, and with which error.
func hostileCases(t testing.TB) []hostileCase {
	t.Helper()
	// a binary of 16 MiB of zeros (twice the default limit): zlib shrinks it ~1000×
	bomb := make([]byte, 16<<20)
	bomb[0] = tagBinary
	binary.BigEndian.PutUint32(bomb[1:], uint32(len(bomb)-5))
	bombFrame := compressed(t, uint32(len(bomb)), bomb)
	liar := compressed(t, 1000, bomb[:1<<20]) // declares 1000 bytes, inflates to 1 MiB
	deepList := append(bytes.Repeat([]byte{tagList, 0, 0, 0, 1}, 10000), tagNil)
	deepList = append(append([]byte{version}, deepList...), bytes.Repeat([]byte{tagNil}, 10000)...)
	deepTuple := append([]byte{version}, bytes.Repeat([]byte{tagSmallTuple, 1}, 10000)...)
	deepTuple = append(deepTuple, tagNil)
	deepMap := append([]byte{version}, bytes.Repeat([]byte{tagMap, 0, 0, 0, 1, tagNil}, 10000)...)
	deepMap = append(deepMap, tagNil)
	manyAtoms := append([]byte{version, tagList, 0, 0, 0x10, 0}, bytes.Repeat([]byte{tagSmallAtomUTF8, 1, 'a'}, 4096)...)
	manyAtoms = append(manyAtoms, tagNil)
	longAtom := append([]byte{version, tagAtomUTF8, 2, 0}, strings.Repeat("é", 256)...)    // 256 characters
	longLatin := append([]byte{version, tagAtom, 1, 0}, bytes.Repeat([]byte{'a'}, 256)...) // 256 characters

	return []hostileCase{
		{"empty", nil, Limits{}, ErrVersion},
		{"bad version", []byte{130, tagNil}, Limits{}, ErrVersion},
		{"version only", []byte{version}, Limits{}, ErrTruncated},
		{"trailing", []byte{version, tagNil, tagNil}, Limits{}, ErrTrailing},
		{"zip bomb", bombFrame, Limits{}, ErrTooLarge},
		{"zip bomb declaring little", liar, Limits{}, ErrMalformed},
		{"declared size beyond the limit", compressed(t, 1<<31, []byte{tagNil}), Limits{}, ErrTooLarge},
		{"compressed, truncated stream", compressed(t, 1, []byte{tagNil})[:8], Limits{}, ErrMalformed},
		{"compressed, trailing in the term", compressed(t, 2, []byte{tagNil, tagNil}), Limits{}, ErrTrailing},
		{"compressed inside a term", []byte{version, tagSmallTuple, 1, tagCompressed, 0, 0, 0, 1}, Limits{}, ErrMalformed},
		{"list of 4G elements", []byte{version, tagList, 0xff, 0xff, 0xff, 0xff, tagNil}, Limits{}, ErrTruncated},
		{"binary of 4G bytes", []byte{version, tagBinary, 0xff, 0xff, 0xff, 0xff, 1, 2}, Limits{}, ErrTruncated},
		{"tuple of 4G elements", []byte{version, tagLargeTuple, 0xff, 0xff, 0xff, 0xff, tagNil}, Limits{}, ErrTruncated},
		{"map of 4G pairs", []byte{version, tagMap, 0xff, 0xff, 0xff, 0xff, tagNil, tagNil}, Limits{}, ErrTruncated},
		{"bit binary of 4G bytes", []byte{version, tagBitBinary, 0xff, 0xff, 0xff, 0xff, 3, 1}, Limits{}, ErrTruncated},
		{"bignum of 4G bytes", []byte{version, tagLargeBig, 0xff, 0xff, 0xff, 0xff, 0, 1}, Limits{}, ErrTruncated},
		{"huge bignum", append([]byte{version, tagLargeBig, 0, 0, 0x20, 0, 0}, make([]byte, 0x2000)...), Limits{}, ErrTooLarge},
		{"string of 64K", []byte{version, tagString, 0xff, 0xff, 1}, Limits{}, ErrTruncated},
		{"list: elements fit, tail does not", []byte{version, tagList, 0, 0, 0, 1, tagNil}, Limits{}, ErrTruncated},
		{"10,000-deep lists", deepList, Limits{}, ErrTooDeep},
		{"10,000-deep tuples", deepTuple, Limits{}, ErrTooDeep},
		{"10,000-deep maps", deepMap, Limits{}, ErrTooDeep},
		{"too many atoms", manyAtoms, Limits{MaxAtoms: 4095}, ErrTooManyAtoms},
		{"input beyond MaxSize", append([]byte{version, tagBinary, 0, 0, 0x10, 0}, make([]byte, 0x1000)...), Limits{MaxSize: 1000}, ErrTooLarge},
		{"UTF-8 atom, bad UTF-8", []byte{version, tagSmallAtomUTF8, 2, 0xc3, 0x28}, Limits{}, ErrBadAtom},
		{"UTF-8 atom, truncated rune", []byte{version, tagSmallAtomUTF8, 1, 0xc3}, Limits{}, ErrBadAtom},
		{"UTF-8 atom, surrogate", []byte{version, tagAtomUTF8, 0, 3, 0xed, 0xa0, 0x80}, Limits{}, ErrBadAtom},
		{"atom of 256 characters", longAtom, Limits{}, ErrBadAtom},
		{"latin-1 atom of 256 characters", longLatin, Limits{}, ErrBadAtom},
		{"atom truncated", []byte{version, tagAtom, 0, 5, 'a'}, Limits{}, ErrTruncated},
		{"duplicate binary keys", []byte{version, tagMap, 0, 0, 0, 2, tagBinary, 0, 0, 0, 1, 'k', tagNil, tagBinary, 0, 0, 0, 1, 'k', tagNil}, Limits{}, ErrDuplicateKey},
		{"duplicate atom keys, two encodings", []byte{version, tagMap, 0, 0, 0, 2, tagAtom, 0, 1, 'k', tagNil, tagSmallAtomUTF8, 1, 'k', tagNil}, Limits{}, ErrDuplicateKey},
		{"duplicate integer keys, two encodings", []byte{version, tagMap, 0, 0, 0, 2, tagSmallInteger, 7, tagNil, tagInteger, 0, 0, 0, 7, tagNil}, Limits{}, ErrDuplicateKey},
		{"duplicate tuple keys", []byte{version, tagMap, 0, 0, 0, 2, tagSmallTuple, 1, tagNil, tagNil, tagSmallTuple, 1, tagNil, tagNil}, Limits{}, ErrDuplicateKey},
		{"NaN", []byte{version, tagNewFloat, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0}, Limits{}, ErrMalformed},
		{"infinity", []byte{version, tagNewFloat, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0}, Limits{}, ErrMalformed},
		{"bit binary, 0 bits", []byte{version, tagBitBinary, 0, 0, 0, 1, 0, 1}, Limits{}, ErrMalformed},
		{"bit binary, 9 bits", []byte{version, tagBitBinary, 0, 0, 0, 1, 9, 1}, Limits{}, ErrMalformed},
		{"reference of 0 words", []byte{version, tagNewerRef, 0, 0, tagSmallAtomUTF8, 1, 'a', 0, 0, 0, 0}, Limits{}, ErrMalformed},
		{"reference of 9 words", []byte{version, tagNewerRef, 0, 9, tagSmallAtomUTF8, 1, 'a', 0, 0, 0, 0}, Limits{}, ErrMalformed},
		{"pid with a binary node", []byte{version, tagNewPid, tagBinary, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, Limits{}, ErrMalformed},
		{"bignum sign 2", []byte{version, tagSmallBig, 1, 2, 1}, Limits{}, ErrMalformed},
		{"fun", []byte{version, 112, 0, 0, 0, 0}, Limits{}, ErrUnsupported},
		{"export", []byte{version, 113, tagSmallAtomUTF8, 1, 'm'}, Limits{}, ErrUnsupported},
		{"distribution header", []byte{version, 68, 0}, Limits{}, ErrUnsupported},
		{"bad FLOAT_EXT", append([]byte{version, tagFloat}, bytes.Repeat([]byte{'x'}, 31)...), Limits{}, ErrMalformed},
	}
}

func hostileInput(cases []hostileCase, name string) []byte {
	for _, c := range cases {
		if c.name == name {
			return c.in
		}
	}
	panic("no hostile case " + name)
}

func TestHostile(t *testing.T) {
	tests := hostileCases(t)
	bombFrame, liar := hostileInput(tests, "zip bomb"), hostileInput(tests, "zip bomb declaring little")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Decode(tt.in, tt.lim)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %#v, %v; want %v", v, err, tt.want)
			}
		})
	}

	// Bounded before it allocates: the zip bomb costs no more than the limit (plus the zlib reader),
	// and a 4G count nothing at all.
	if n := allocBytes(bombFrame, Limits{MaxSize: 1 << 20}); n > 64<<10 {
		t.Errorf("a zip bomb declaring more than the limit allocated %d bytes", n)
	}
	if n := allocBytes(liar, Limits{}); n > 4<<20 {
		t.Errorf("a zip bomb declaring 1000 bytes allocated %d bytes", n)
	}
	if n := allocBytes([]byte{version, tagList, 0xff, 0xff, 0xff, 0xff, tagNil}, Limits{}); n > 4096 {
		t.Errorf("a 4G count allocated %d bytes", n)
	}
}

// Every prefix of every golden frame is an error, never a panic or a value.
func TestTruncations(t *testing.T) {
	for _, g := range goldenFrames(t) {
		for n := range len(g.frame) {
			if v, err := Decode(g.frame[:n], Limits{}); err == nil {
				t.Fatalf("%s/%s cut to %d bytes decoded to %#v", g.dir, g.name, n, v)
			}
		}
	}
}

func TestDecodeForms(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want any
	}{
		{"SMALL_ATOM_EXT", []byte{version, tagSmallAtom, 2, 'o', 'k'}, Atom("ok")},
		{"ATOM_EXT latin-1", []byte{version, tagAtom, 0, 2, 'h', 0xe9}, Atom("hé")},
		{"ATOM_UTF8_EXT", []byte{version, tagAtomUTF8, 0, 3, 'h', 0xc3, 0xa9}, Atom("hé")},
		{"SMALL_ATOM_UTF8_EXT true", []byte{version, tagSmallAtomUTF8, 4, 't', 'r', 'u', 'e'}, true},
		{"ATOM_EXT nil", []byte{version, tagAtom, 0, 3, 'n', 'i', 'l'}, nil},
		{"LIST_EXT of no elements", []byte{version, tagList, 0, 0, 0, 0, tagNil}, []any{}},
		{"empty map", []byte{version, tagMap, 0, 0, 0, 0}, map[string]any{}},
		{"negative INTEGER_EXT", []byte{version, tagInteger, 0xff, 0xff, 0xff, 0xf9}, int64(-7)},
		{"min int64 as bignum", []byte{version, tagSmallBig, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0x80}, int64(-1 << 63)},
		{"FLOAT_EXT", append(append([]byte{version, tagFloat}, "1.50000000000000000000e+00"...), 0, 0, 0, 0, 0), 1.5},
		{"PID_EXT", []byte{version, tagPid, tagSmallAtomUTF8, 1, 'n', 0, 0, 0, 1, 0, 0, 0, 2, 3}, Pid{Node: "n", ID: 1, Serial: 2, Creation: 3}},
		{"NEW_REFERENCE_EXT", []byte{version, tagNewRef, 0, 1, tagSmallAtomUTF8, 1, 'n', 3, 0, 0, 0, 9}, Ref{Node: "n", Creation: 3, ID: []uint32{9}}},
		{"improper list written with a list tail", []byte{version, tagList, 0, 0, 0, 1, tagSmallInteger, 1, tagString, 0, 1, 2}, []any{int64(1), int64(2)}},
		{"mixed keys keep wire order", []byte{version, tagMap, 0, 0, 0, 2, tagBinary, 0, 0, 0, 1, 'b', tagNil, tagSmallAtomUTF8, 1, 'a', tagNil}, Map{{"b", []any{}}, {Atom("a"), []any{}}}},
	}
	for _, tt := range tests {
		got, err := Decode(tt.in, Limits{})
		if err != nil || !equalValues(got, tt.want) {
			t.Errorf("%s: Decode = %#v, %v; want %#v", tt.name, got, err, tt.want)
		}
	}
}
