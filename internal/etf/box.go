package etf

import (
	"math"
	"unsafe"
)

// Decoding a term boxes most of its values in interfaces ([]any elements, map[string]any values), and
// Go allocates a box for every string and for every integer and float outside its cache of 0..255.
// The boxes of a small term are carved from a few slabs instead: one allocation per slabSize values.
// A value kept from the term keeps its slab alive (at most slabSize string headers or words), so
// strings are boxed this way only when they are substrings of the term's one shared copy (terms of up
// to ShareLimit bytes), which the value keeps alive anyway.

// slabSize is how many boxes one slab holds.
const slabSize = 8

// eface is the layout of an interface value with no methods (runtime.eface), which has not changed
// since Go 1.4; TestBoxLayout checks it.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	stringType  = typeOf("")
	int64Type   = typeOf(int64(0))
	float64Type = typeOf(float64(0))
)

// box returns the interface value of dynamic type typ whose value is at data. The value at data must
// never change afterwards.
func box(typ, data unsafe.Pointer) (v any) {
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, data
	return v
}

// boxString boxes s, in a slab when s shares the term's copy.
func (d *decoder) boxString(s string) any {
	if d.str == "" || len(s) == 0 {
		return s
	}
	if len(d.strs) == cap(d.strs) {
		d.strs = make([]string, 0, slabSize)
	}
	d.strs = append(d.strs, s)
	return box(stringType, unsafe.Pointer(&d.strs[len(d.strs)-1]))
}

// boxInt boxes v, in a slab unless Go's own cache has it.
func (d *decoder) boxInt(v int64) any {
	if uint64(v) < 256 {
		return v
	}
	return box(int64Type, d.word(uint64(v)))
}

// boxFloat boxes f, in a slab unless Go's own cache has it.
func (d *decoder) boxFloat(f float64) any {
	bits := math.Float64bits(f)
	if bits < 256 {
		return f
	}
	return box(float64Type, d.word(bits))
}

// word stores w in the slab of words and returns its address.
func (d *decoder) word(w uint64) unsafe.Pointer {
	if len(d.words) == cap(d.words) {
		d.words = make([]uint64, 0, slabSize)
	}
	d.words = append(d.words, w)
	return unsafe.Pointer(&d.words[len(d.words)-1])
}
