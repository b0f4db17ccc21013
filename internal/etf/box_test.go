package etf

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

// TestBoxLayout checks that the boxes carved from slabs are the interface values Go would make.
func TestBoxLayout(t *testing.T) {
	d := &decoder{str: "shared"}
	for _, c := range []struct{ got, want any }{
		{d.boxString("alice"), "alice"},
		{d.boxString(""), ""},
		{d.boxInt(123456), int64(123456)},
		{d.boxInt(-1), int64(-1)},
		{d.boxInt(42), int64(42)},
		{d.boxInt(math.MinInt64), int64(math.MinInt64)},
		{d.boxFloat(0.75), 0.75},
		{d.boxFloat(math.Copysign(0, -1)), math.Copysign(0, -1)},
		{d.boxFloat(0), 0.0},
	} {
		if c.got != c.want || !reflect.DeepEqual(c.got, c.want) || reflect.TypeOf(c.got) != reflect.TypeOf(c.want) {
			t.Errorf("boxed %#v (%T), want %#v (%T)", c.got, c.got, c.want, c.want)
		}
	}
	// more values than a slab holds: each keeps its own value
	var boxes []any
	for i := range 3 * slabSize {
		boxes = append(boxes, d.boxInt(int64(1000+i)), d.boxString(string(rune('a'+i))))
	}
	for i := range 3 * slabSize {
		if boxes[2*i] != int64(1000+i) || boxes[2*i+1] != string(rune('a'+i)) {
			t.Fatalf("box %d is %v, %v", i, boxes[2*i], boxes[2*i+1])
		}
	}
}

// TestDecodeMixedMapKeepsWireOrder: a map whose first keys are binaries and a later key is not is a
// Map in wire order, and its duplicate binary keys are still found.
func TestDecodeMixedMapKeepsWireOrder(t *testing.T) {
	frame := []byte{version, tagMap, 0, 0, 0, 3,
		tagBinary, 0, 0, 0, 1, 'b', tagSmallInteger, 1,
		tagBinary, 0, 0, 0, 1, 'a', tagSmallInteger, 2,
		tagSmallAtomUTF8, 1, 'c', tagSmallInteger, 3}
	v, err := Decode(frame, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := Map{{"b", int64(1)}, {"a", int64(2)}, {Atom("c"), int64(3)}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("decoded %#v, want %#v", v, want)
	}
	frame[19] = 'b' // the second key is now "b" too
	if _, err := Decode(frame, Limits{}); err == nil || !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("duplicate binary keys before an atom key: %v, want ErrDuplicateKey", err)
	}
}

// TestInlineElems: lists and tuples whose box shares their elements' allocation are the values Go
// would make, of every inline length, and appending to one never writes past its elements.
func TestInlineElems(t *testing.T) {
	for n := 0; n <= maxInline+1; n++ {
		l, boxed := newElems(n, listType)
		tl, tboxed := newElems(n, tupleType)
		want := make([]any, n)
		for i := range l {
			l[i], tl[i], want[i] = int64(i), int64(i), int64(i)
		}
		if (boxed == nil) != (n == 0 || n > maxInline) || (tboxed == nil) != (n == 0 || n > maxInline) {
			t.Fatalf("%d elements: boxed %v, %v", n, boxed != nil, tboxed != nil)
		}
		if boxed == nil {
			continue
		}
		got, ok := boxed.([]any)
		if !ok || !reflect.DeepEqual(got, want) || cap(got) != n {
			t.Fatalf("list of %d: %#v (cap %d)", n, boxed, cap(got))
		}
		tup, ok := tboxed.(Tuple)
		if !ok || !reflect.DeepEqual(tup, Tuple(want)) {
			t.Fatalf("tuple of %d: %#v", n, tboxed)
		}
		grown := append(got, "more")
		if &grown[0] == &got[0] || !reflect.DeepEqual(boxed, want) {
			t.Fatalf("appending to a list of %d wrote into it", n)
		}
	}
}
