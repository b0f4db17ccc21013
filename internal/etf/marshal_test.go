package etf

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// Inner is embedded in everything: its fields are promoted.
type Inner struct {
	Promoted string `etf:"promoted"`
	Shadowed int    `etf:"shadowed"`
}

type nested struct {
	V    int       `etf:"v"`
	Next *nested   `etf:"next,omitempty"`
	List []*nested `etf:"list,omitempty"`
}

type status string

// everything has a field of every kind Marshal and Unmarshal handle.
type everything struct {
	Inner
	Shadowed  string            `etf:"shadowed"` // shallower than Inner's: wins
	Str       string            `etf:"str"`
	Named     status            `etf:"named"`
	Atom      Atom              `etf:"atom"`
	Bytes     []byte            `etf:"bytes"`
	Array     [4]byte           `etf:"array"`
	Bool      bool              `etf:"bool"`
	I8        int8              `etf:"i8"`
	I16       int16             `etf:"i16"`
	I32       int32             `etf:"i32"`
	I64       int64             `etf:"i64"`
	Int       int               `etf:"int"`
	U8        uint8             `etf:"u8"`
	U16       uint16            `etf:"u16"`
	U32       uint32            `etf:"u32"`
	U64       uint64            `etf:"u64"`
	Uint      uint              `etf:"uint"`
	F32       float32           `etf:"f32"`
	F64       float64           `etf:"f64"`
	PtrInt    *int              `etf:"ptr_int"`
	PtrNil    *string           `etf:"ptr_nil"`
	Any       any               `etf:"any"`
	AnyNil    any               `etf:"any_nil"`
	Anys      []any             `etf:"anys"`
	Small     []int             `etf:"small"` // integers 0..255: STRING_EXT
	Strs      []string          `etf:"strs"`
	Pair      [2]float64        `etf:"pair"`
	Counts    map[string]int    `etf:"counts"`
	Flags     map[Atom]string   `etf:"flags"`
	Free      map[string]any    `etf:"free"`
	Nested    nested            `etf:"nested"`
	Deep      *nested           `etf:"deep"`
	Many      []nested          `etf:"many"`
	Big       *big.Int          `etf:"big"`
	Tuple     Tuple             `etf:"tuple"`
	Pid       Pid               `etf:"pid"`
	Raw       Raw               `etf:"raw"`
	RawTerm   RawTerm           `etf:"raw_term"`
	Omitted   string            `etf:"omitted,omitempty"`
	OmitMap   map[string]string `etf:"omit_map,omitempty"`
	Skipped   string            `etf:"-"`
	Untagged  string
	unexposed string
}

func sample() everything {
	seven := 7
	return everything{
		Inner: Inner{Promoted: "up"}, Shadowed: "outer", // Inner.Shadowed is hidden: never written
		Str: "héllo", Named: "online", Atom: "ok", Bytes: []byte{0, 1, 2}, Array: [4]byte{1, 2, 3, 4},
		Bool: true, I8: -128, I16: 32767, I32: -1 << 31, I64: math.MinInt64, Int: 1 << 40,
		U8: 255, U16: 65535, U32: 1<<32 - 1, U64: math.MaxUint64, Uint: 1 << 33,
		F32: 1.5, F64: -0.125, PtrInt: &seven, Any: map[string]any{"k": []any{int64(1), "x"}},
		Anys: []any{int64(300), "s", nil, true, 2.5}, Small: []int{1, 2, 255}, Strs: []string{"a", ""},
		Pair: [2]float64{48.85, 2.35}, Counts: map[string]int{"a": 1, "b": -2}, Flags: map[Atom]string{"on": "yes"},
		Free:   map[string]any{"n": int64(1)},
		Nested: nested{V: 1, Next: &nested{V: 2}}, Deep: &nested{V: 3, List: []*nested{{V: 4}, nil}},
		Many: []nested{{V: 5}}, Big: new(big.Int).Lsh(big.NewInt(1), 100), Tuple: Tuple{Atom("ok"), int64(1)},
		Pid: Pid{Node: "a@h", ID: 1, Serial: 2, Creation: 3}, Raw: Raw{tagSmallInteger, 42}, RawTerm: RawTerm("\x6a"),
		Untagged: "by its Go name",
	}
}

// A struct is written as the map with binary keys a Phoenix app would send: the same bytes as the
// equivalent map[string]any, whether it is given by value or by pointer.
func TestMarshalStructAsMap(t *testing.T) {
	want, err := (&Encoder{}).Append(nil, typical())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{typicalValue(), *typicalValue()} {
		got, err := Marshal(v)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Marshal(%T) = %x, %v\nwant %x", v, got, err, want)
		}
	}
	got, err := MarshalAppend([]byte("keep"), typicalValue())
	if err != nil || string(got[:4]) != "keep" || !bytes.Equal(got[4:], want) {
		t.Errorf("MarshalAppend = %x, %v", got, err)
	}
	var back typicalStruct
	if err := Unmarshal(want, &back); err != nil || !reflect.DeepEqual(&back, typicalValue()) {
		t.Errorf("Unmarshal of the map = %+v, %v; want %+v", back, err, *typicalValue())
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	in := sample()
	b, err := Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	in.Skipped, in.unexposed = "not written", "not written"
	var out everything
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	in.Skipped, in.unexposed = "", ""
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
	// the same term through Decode: what an Elixir node receives
	m, err := Decode(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	mm := m.(map[string]any)
	for k, want := range map[string]any{
		"shadowed": "outer", "promoted": "up", "str": "héllo", "named": "online", "atom": Atom("ok"),
		"bytes": "\x00\x01\x02", "small": []any{int64(1), int64(2), int64(255)}, "ptr_nil": nil,
		"flags": Map{{Atom("on"), "yes"}}, "Untagged": "by its Go name", "raw": int64(42), "raw_term": []any{},
	} {
		if !reflect.DeepEqual(mm[k], want) {
			t.Errorf("%s decodes to %#v, want %#v", k, mm[k], want)
		}
	}
	for _, k := range []string{"omitted", "omit_map", "Skipped", "-", "unexposed"} {
		if _, ok := mm[k]; ok {
			t.Errorf("key %q was written", k)
		}
	}
	if len(mm) != 40 {
		t.Errorf("the map has %d keys, want 40", len(mm))
	}
	// and Marshal of that decoded map writes the same bytes (the struct's order is term order)
	again, err := Marshal(m)
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("the decoded map re-encodes differently:\n%x\n%x", again, b)
	}
}

// An Elixir struct (atom keys) fills a Go struct, its fields matched by name or, failing that, by
// name but for ASCII case; keys that name no field are ignored.
func TestUnmarshalElixirStruct(t *testing.T) {
	var frame [6]Raw // {3, mode, node, topic, message, dispatcher}
	if err := Unmarshal(goldenFrame(t, "otp26", "pubsub_broadcast_socket_broadcast_channel_server"), &frame); err != nil {
		t.Fatal(err)
	}
	var b struct {
		Topic   string
		Event   string
		Payload struct {
			Body string `etf:"body"`
		}
	}
	if err := Unmarshal(append([]byte{version}, frame[4]...), &b); err != nil {
		t.Fatal(err)
	}
	if b.Topic != "room:lobby" || b.Event != "new_msg" || b.Payload.Body != "hi" {
		t.Errorf("Socket.Broadcast decoded to %+v", b)
	}
	var node Atom
	if err := Unmarshal(append([]byte{version}, frame[2]...), &node); err != nil || node != "a@127.0.0.1" {
		t.Errorf("node: %q, %v", node, err)
	}
}

func term(t *testing.T, v any) []byte {
	t.Helper()
	b, err := (&Encoder{}).Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnmarshalForms(t *testing.T) {
	type small struct {
		A int8    `etf:"a"`
		F float32 `etf:"f"`
	}
	var s small
	// keys that name no field, of any type, are ignored; integers fill floats; fields without a key
	// keep their value
	s.A = 5
	in := Map{{Atom("f"), int64(3)}, {int64(1), Tuple{}}, {"zz", []any{int64(1)}}, {Atom("zz"), nil}}
	if err := Unmarshal(term(t, in), &s); err != nil || s != (small{A: 5, F: 3}) {
		t.Errorf("got %+v, %v", s, err)
	}
	// nil stores the zero value everywhere
	e := sample()
	if err := Unmarshal(term(t, nil), &e); err != nil || !reflect.DeepEqual(e, everything{}) {
		t.Errorf("nil into a struct: %+v, %v", e, err)
	}
	e = sample()
	nils := map[string]any{}
	for _, k := range []string{"str", "bool", "i64", "ptr_int", "any", "anys", "counts", "nested", "deep", "big", "tuple", "bytes", "array", "pair"} {
		nils[k] = nil
	}
	if err := Unmarshal(term(t, nils), &e); err != nil {
		t.Fatal(err)
	}
	if e.Str != "" || e.Bool || e.I64 != 0 || e.PtrInt != nil || e.Any != nil || e.Anys != nil || e.Counts != nil ||
		!reflect.DeepEqual(e.Nested, nested{}) || e.Deep != nil || e.Big != nil || e.Tuple != nil || e.Bytes != nil || e.Array != [4]byte{} || e.Pair != [2]float64{} {
		t.Errorf("nil values left %+v", e)
	}
	// a slice long enough is reused, zeroed; tuples fill slices and arrays; a shorter list leaves the
	// rest of an array zero
	l := make([]nested, 1, 4)
	l[0].Next = &nested{}
	if err := Unmarshal(term(t, Tuple{map[string]any{"v": int64(1)}, nil}), &l); err != nil || len(l) != 2 || !reflect.DeepEqual(l, []nested{{V: 1}, {}}) || cap(l) != 4 {
		t.Errorf("reused slice: %+v, %v", l, err)
	}
	var arr [3]int
	if err := Unmarshal(term(t, []any{int64(1), int64(300)}), &arr); err != nil || arr != [3]int{1, 300, 0} {
		t.Errorf("array: %v, %v", arr, err)
	}
	// maps: binary and atom keys into string keys, integer keys into integer keys
	var mi map[int]string
	if err := Unmarshal(term(t, Map{{int64(1), "a"}, {int64(1 << 20), "b"}}), &mi); err != nil || !reflect.DeepEqual(mi, map[int]string{1: "a", 1 << 20: "b"}) {
		t.Errorf("integer keys: %v, %v", mi, err)
	}
	var ms map[string]any
	if err := Unmarshal(term(t, Map{{Atom("a"), int64(1)}, {"b", nil}}), &ms); err != nil || !reflect.DeepEqual(ms, map[string]any{"a": int64(1), "b": nil}) {
		t.Errorf("mixed keys into map[string]any: %v, %v", ms, err)
	}
	// big integers
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	var bi big.Int
	if err := Unmarshal(term(t, huge), &bi); err != nil || bi.Cmp(huge) != 0 {
		t.Errorf("big.Int: %v, %v", &bi, err)
	}
	var u uint64
	if err := Unmarshal(term(t, uint64(math.MaxUint64)), &u); err != nil || u != math.MaxUint64 {
		t.Errorf("max uint64: %v, %v", u, err)
	}
	// FLOAT_EXT and a compressed term
	var f float64
	if err := Unmarshal(append(append([]byte{version, tagFloat}, "1.50000000000000000000e+00"...), 0, 0, 0, 0, 0), &f); err != nil || f != 1.5 {
		t.Errorf("FLOAT_EXT: %v, %v", f, err)
	}
	long := strings.Repeat("x", 5000)
	var ls struct{ S string }
	if err := Unmarshal(term(t, map[string]any{"S": long}), &ls); err != nil || ls.S != long {
		t.Errorf("a string beyond ShareLimit: %v", err)
	}
	z, _ := (&Encoder{Compression: 6}).Append(nil, map[string]any{"S": long})
	ls.S = ""
	if err := UnmarshalString(string(z), &ls, Limits{}); err != nil || ls.S != long {
		t.Errorf("compressed: %v", err)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	type inner struct {
		V int8 `etf:"v"`
	}
	type outer struct {
		ID    int64   `etf:"id"`
		Meta  inner   `etf:"meta"`
		List  []inner `etf:"list"`
		Flag  bool    `etf:"flag"`
		Name  string  `etf:"name"`
		Kind  Atom    `etf:"kind"`
		Count uint8   `etf:"count"`
		Arr   [1]int  `etf:"arr"`
		Key   [2]byte `etf:"key"`
		Ch    chan int
		Iface error `etf:"iface"`
	}
	tests := []struct {
		in    any
		term  string
		typ   string
		field string
	}{
		{map[string]any{"id": "x"}, "binary", "int64", "id"},
		{map[string]any{"meta": map[string]any{"v": int64(300)}}, "integer 300", "int8", "meta.v"},
		{map[string]any{"meta": []any{int64(1)}}, "list", "etf.inner", "meta"},
		{map[string]any{"list": []any{map[string]any{"v": 1.5}}}, "float", "int8", "list.v"},
		{map[string]any{"list": ImproperList{Elems: []any{nil}, Tail: int64(1)}}, "improper list", "[]etf.inner", "list"},
		{map[string]any{"flag": Atom("yes")}, `atom :yes`, "bool", "flag"},
		{map[string]any{"name": int64(1)}, "integer 1", "string", "name"},
		{map[string]any{"kind": "binary"}, "binary", "etf.Atom", "kind"},
		{map[string]any{"count": int64(-1)}, "integer -1", "uint8", "count"},
		{map[string]any{"count": new(big.Int).Lsh(big.NewInt(1), 70)}, "integer", "uint8", "count"},
		{map[string]any{"arr": []any{int64(1), int64(2)}}, "list or tuple of more elements than", "[1]int", "arr"},
		{map[string]any{"key": "abc"}, "binary", "[2]uint8", "key"},
		{map[string]any{"Ch": int64(1)}, "integer 1", "chan int", "Ch"},
		{map[string]any{"iface": "x"}, "binary", "error", "iface"},
		{"x", "binary", "etf.outer", ""},
	}
	for _, tt := range tests {
		var o outer
		err := Unmarshal(term(t, tt.in), &o)
		var te *UnmarshalTypeError
		if !errors.As(err, &te) || te.Term != tt.term || te.Type.String() != tt.typ || te.Field != tt.field {
			t.Errorf("%#v: %v (%#v), want %s into %s at %q", tt.in, err, te, tt.term, tt.typ, tt.field)
		} else if !strings.Contains(err.Error(), tt.term) || !strings.Contains(err.Error(), tt.typ) {
			t.Errorf("%#v: the message %q names neither the term nor the type", tt.in, err)
		}
	}

	var o outer
	for _, v := range []any{o, nil, (*outer)(nil)} {
		if err := Unmarshal(term(t, nil), v); err == nil || !strings.Contains(err.Error(), "non-nil pointer") {
			t.Errorf("Unmarshal into %T: %v", v, err)
		}
	}
	// two keys for one field, and two equal keys that name no field, are duplicate keys
	for _, in := range []Map{
		{{"id", int64(1)}, {Atom("id"), int64(2)}},
		{{"ID", int64(1)}, {"id", int64(2)}},
		{{int64(7), nil}, {"x", nil}, {big.NewInt(7), nil}}, // 7 twice (the encoder does not check)
	} {
		if err := Unmarshal(term(t, in), &o); !errors.Is(err, ErrDuplicateKey) {
			t.Errorf("%v: %v, want ErrDuplicateKey", in, err)
		}
	}
	var m map[string]int
	if err := Unmarshal(term(t, Map{{"a", int64(1)}, {Atom("a"), int64(2)}}), &m); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("a binary and an atom key into one map key: %v", err)
	}
	// limits
	deep := &nested{}
	for range 200 {
		deep = &nested{Next: deep}
	}
	b, err := (&Encoder{MaxDepth: 1000}).Append(nil, deep)
	if err != nil {
		t.Fatal(err)
	}
	var n nested
	if err := Unmarshal(b, &n); !errors.Is(err, ErrTooDeep) {
		t.Errorf("200 nested structs: %v, want ErrTooDeep", err)
	}
	if _, err := Marshal(deep); !errors.Is(err, ErrTooDeep) {
		t.Errorf("Marshal of 200 nested structs: %v, want ErrTooDeep", err)
	}
	if err := Unmarshal(append(term(t, "x"), 0), new(string)); !errors.Is(err, ErrTrailing) {
		t.Errorf("trailing byte: %v", err)
	}
}

// The hostile corpus into structs, slices, maps and any: an error (Decode's own, for any), never a
// panic or a value, and no more memory than Decode takes.
func TestUnmarshalHostile(t *testing.T) {
	for _, tt := range hostileCases(t) {
		var e everything
		if err := UnmarshalWith(tt.in, &e, tt.lim); err == nil {
			t.Errorf("%s into a struct: no error", tt.name)
		}
		var l []everything
		if err := UnmarshalWith(tt.in, &l, tt.lim); err == nil {
			t.Errorf("%s into a slice: no error", tt.name)
		}
		var m map[string][]map[string]any
		if err := UnmarshalWith(tt.in, &m, tt.lim); err == nil {
			t.Errorf("%s into a map: no error", tt.name)
		}
		var a any
		if err := UnmarshalWith(tt.in, &a, tt.lim); !errors.Is(err, tt.want) {
			t.Errorf("%s into any: %v, want %v", tt.name, err, tt.want)
		}
	}
	// 4G counts reserve nothing
	cases := hostileCases(t)
	for _, name := range []string{"list of 4G elements", "map of 4G pairs", "tuple of 4G elements"} {
		in := hostileInput(cases, name)
		var l []everything
		if n := allocBytesFunc(func() { Unmarshal(in, &l) }); n > 64<<10 { // the error, and the runtime's noise; not 4G elements
			t.Errorf("%s into []everything allocated %d bytes", name, n)
		}
		var m map[string]everything
		if n := allocBytesFunc(func() { Unmarshal(in, &m) }); n > 64<<10 {
			t.Errorf("%s into []everything allocated %d bytes", name, n)
		}
	}
	if n := allocBytesFunc(func() { var e everything; UnmarshalWith(hostileInput(cases, "zip bomb"), &e, Limits{MaxSize: 1 << 20}) }); n > 64<<10 {
		t.Errorf("a zip bomb into a struct allocated %d bytes", n)
	}
	// a million empty lists (1 MiB) into [][64]int64 would take 512 MiB: refused, having taken no
	// more than the budget of 64 times the term
	many := []byte{version, tagList, 0, 0x10, 0, 0}
	many = append(many, bytes.Repeat([]byte{tagNil}, 1<<20+1)...)
	var big [][64]int64
	var err error
	if n := allocBytesFunc(func() { err = Unmarshal(many, &big) }); n > 64*uint64(len(many))+2<<20 || !errors.Is(err, ErrTooLarge) {
		t.Errorf("a million empty lists into [][64]int64: %v, having allocated %d bytes", err, n)
	}
	// the same with maps of large values: a million empty maps (6 MiB)
	maps := []byte{version, tagList, 0, 0x10, 0, 0}
	maps = append(maps, bytes.Repeat([]byte{tagMap, 0, 0, 0, 0}, 1<<20)...)
	maps = append(maps, tagNil)
	var ml []map[string][64]int64
	if n := allocBytesFunc(func() { err = Unmarshal(maps, &ml) }); n > 64*uint64(len(maps))+2<<20 || !errors.Is(err, ErrTooLarge) {
		t.Errorf("a million empty maps into []map[string][64]int64: %v, having allocated %d bytes", err, n)
	}
	var small [][]int8 // 24 MiB: within the budget
	if err := Unmarshal(many, &small); err != nil || len(small) != 1<<20 {
		t.Errorf("a million empty lists into [][]int8: %d, %v", len(small), err)
	}
}

func allocBytesFunc(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Marshal and Unmarshal share one codec per type, built once even by goroutines racing to it.
func TestCodecConcurrent(t *testing.T) {
	type fresh struct {
		A []fresh `etf:"a,omitempty"`
		B string  `etf:"b"`
	}
	in := fresh{A: []fresh{{B: "x"}}, B: "y"}
	done := make(chan error, 8)
	for range 8 {
		go func() {
			b, err := Marshal(in)
			if err == nil {
				var out fresh
				err = Unmarshal(b, &out)
				if err == nil && !reflect.DeepEqual(out, in) {
					err = errors.New("round trip differs")
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

type hidden struct {
	A any      `etf:"a"`
	L []string `etf:"l"`
}

// The exported fields of an embedded struct of an unexported type are promoted, both ways (as with
// encoding/json).
func TestUnexportedEmbedded(t *testing.T) {
	type outer struct {
		hidden
		B int `etf:"b"`
	}
	in := outer{hidden{A: "x", L: []string{"y"}}, 1}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out outer
	if err := Unmarshal(b, &out); err != nil || !reflect.DeepEqual(out, in) {
		t.Errorf("got %+v, %v", out, err)
	}
}
