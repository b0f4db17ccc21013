package etf

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"testing"
)

func equalValues(a, b any) bool { return reflect.DeepEqual(a, b) }

func TestEncodeRoundTrip(t *testing.T) {
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	type status string
	tests := []struct {
		in, want any
	}{
		{nil, nil}, {true, true}, {false, false},
		{0, int64(0)}, {255, int64(255)}, {256, int64(256)}, {-1, int64(-1)},
		{math.MaxInt32, int64(math.MaxInt32)}, {math.MinInt32, int64(math.MinInt32)},
		{int64(math.MaxInt32) + 1, int64(math.MaxInt32) + 1}, {int64(math.MinInt64), int64(math.MinInt64)},
		{int64(math.MaxInt64), int64(math.MaxInt64)}, {uint64(math.MaxUint64), new(big.Int).SetUint64(math.MaxUint64)},
		{huge, huge}, {big.NewInt(5), int64(5)}, {int8(-3), int64(-3)}, {uint16(700), int64(700)},
		{1.5, 1.5}, {float32(0.25), 0.25}, {"héllo", "héllo"}, {[]byte{1, 2}, "\x01\x02"}, {status("x"), "x"},
		{Atom("ok"), Atom("ok")}, {Atom("héllo"), Atom("héllo")}, {Atom("日本"), Atom("日本")},
		{[]any{}, []any{}}, {[]any{1, 2, 3}, []any{int64(1), int64(2), int64(3)}},
		{[]any{1, 256}, []any{int64(1), int64(256)}}, {[]string{"a"}, []any{"a"}}, {[]int{}, []any{}},
		{Tuple{Atom("ok"), 1}, Tuple{Atom("ok"), int64(1)}},
		{map[string]any{"b": 1, "a": map[string]any{}}, map[string]any{"a": map[string]any{}, "b": int64(1)}},
		{map[string]string{"k": "v"}, map[string]any{"k": "v"}},
		{map[Atom]any{"status": "on", "at": 1}, Map{{Atom("at"), int64(1)}, {Atom("status"), "on"}}},
		{Map{{Atom("z"), 1}, {"a", 2}}, Map{{Atom("z"), int64(1)}, {"a", int64(2)}}},
		{ImproperList{Elems: []any{1}, Tail: 2}, ImproperList{Elems: []any{int64(1)}, Tail: int64(2)}},
		{BitBinary{Data: []byte{0xe0}, Bits: 3}, BitBinary{Data: []byte{0xe0}, Bits: 3}},
		{Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}, Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}},
		{Ref{Node: "a@h", Creation: 1, ID: []uint32{1, 2, 3}}, Ref{Node: "a@h", Creation: 1, ID: []uint32{1, 2, 3}}},
		{[3]int{1, 2, 300}, []any{int64(1), int64(2), int64(300)}},
	}
	for _, legacy := range []bool{false, true} {
		for _, level := range []int{0, 6} {
			enc := Encoder{LegacyAtoms: legacy, Compression: level}
			for _, tt := range tests {
				b, err := enc.Append(nil, tt.in)
				if err != nil {
					t.Fatalf("Append(%#v): %v", tt.in, err)
				}
				got, err := Decode(b, Limits{})
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Errorf("legacy %v level %d: %#v → %x → %#v, %v; want %#v", legacy, level, tt.in, b, got, err, tt.want)
				}
			}
		}
	}
}

func TestEncodeBytes(t *testing.T) {
	tests := []struct {
		in     any
		legacy bool
		want   []byte
	}{
		{Atom("ok"), false, []byte{version, tagSmallAtomUTF8, 2, 'o', 'k'}},
		{Atom("ok"), true, []byte{version, tagAtom, 0, 2, 'o', 'k'}},
		{Atom("hé"), true, []byte{version, tagAtom, 0, 2, 'h', 0xe9}},
		{Atom("日"), true, []byte{version, tagSmallAtomUTF8, 3, 0xe6, 0x97, 0xa5}},
		{[]any{1, 2, 3}, false, []byte{version, tagString, 0, 3, 1, 2, 3}},
		{int64(1) << 40, false, []byte{version, tagSmallBig, 6, 0, 0, 0, 0, 0, 0, 1}},
		{-7, false, []byte{version, tagInteger, 0xff, 0xff, 0xff, 0xf9}},
	}
	for _, tt := range tests {
		got, err := (&Encoder{LegacyAtoms: tt.legacy}).Append(nil, tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Append(%#v) = %x, %v; want %x", tt.in, got, err, tt.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	only := Encoder{AllowAtom: func(a Atom) bool { return a == "ok" }}
	tests := []struct {
		enc  Encoder
		in   any
		want error
	}{
		{Encoder{}, struct{ C chan int }{}, ErrUnencodable}, // structs encode (see marshal_test.go), a channel does not
		{Encoder{}, []complex128{1}, ErrUnencodable},
		{Encoder{}, &struct{ A *[]func() }{A: &[]func(){nil}}, ErrUnencodable},
		{only, struct{ A Atom }{"evil"}, ErrAtomNotAllowed},
		{only, struct{ A any }{Atom("evil")}, ErrAtomNotAllowed},
		{Encoder{}, make(chan int), ErrUnencodable},
		{Encoder{}, math.NaN(), ErrUnencodable},
		{Encoder{}, math.Inf(1), ErrUnencodable},
		{Encoder{}, (*big.Int)(nil), ErrUnencodable},
		{Encoder{}, map[int]any{1: 2}, ErrUnencodable},
		{Encoder{}, ImproperList{Tail: 1}, ErrUnencodable},
		{Encoder{}, ImproperList{Elems: []any{1}, Tail: []any{2}}, ErrUnencodable},
		{Encoder{}, BitBinary{Bits: 3}, ErrUnencodable},
		{Encoder{}, Ref{Node: "n"}, ErrUnencodable},
		{Encoder{}, cyclic, ErrTooDeep},
		{Encoder{}, Atom(string(make([]rune, 256))), ErrBadAtom},
		{Encoder{}, Atom("\xff"), ErrBadAtom},
		{Encoder{Compression: 10}, "x", ErrUnencodable},
		{only, Atom("ok"), nil},
		{only, Atom("error"), ErrAtomNotAllowed},
		{only, Tuple{Atom("ok"), []any{Atom("evil")}}, ErrAtomNotAllowed},
		{only, map[Atom]any{"evil": 1}, ErrAtomNotAllowed},
		{only, Pid{Node: "evil@h"}, ErrAtomNotAllowed},
		{only, Tuple{nil, true, false}, nil},
	}
	for _, tt := range tests {
		dst := []byte("keep")
		got, err := tt.enc.Append(dst, tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("Append(%T) error %v, want %v", tt.in, err, tt.want)
		}
		if err != nil && string(got) != "keep" {
			t.Errorf("Append(%T) failed but returned %q", tt.in, got)
		}
	}
}

// Compression is used only when it makes the term smaller, as term_to_binary does.
func TestEncodeCompression(t *testing.T) {
	enc := Encoder{Compression: 6}
	small, _ := enc.Append(nil, "hello")
	if small[1] == tagCompressed {
		t.Errorf("a 5-byte binary was compressed: %x", small)
	}
	big, _ := enc.Append(nil, string(make([]byte, 1000)))
	if big[1] != tagCompressed || len(big) > 100 {
		t.Errorf("1000 zero bytes: %d bytes, tag %d", len(big), big[1])
	}
}
