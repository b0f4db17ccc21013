package etf

import (
	"math"
	"unsafe"
)

// Decoding a term boxes most of its values in interfaces ([]any elements, map[string]any values), and
// Go allocates a box for every string and for every integer and float outside its cache of 0..255.
// The boxes of a term are carved from slabs instead: one allocation for up to slabSize strings and
// slabSize integers or floats. A value kept from the term keeps its slab alive (192 bytes, and what
// its strings point to), so strings are boxed this way only when they are substrings of the term's
// one shared copy (terms of up to ShareLimit bytes), which the value keeps alive anyway.

// slabSize is how many strings, and how many words, one slab holds.
const slabSize = 8

// slab holds the boxed values of a term. When one of its arrays is full, the next value of that kind
// goes to a new slab, and so do later values of the other kind.
type slab struct {
	strs  [slabSize]string
	words [slabSize]uint64
}

// slabs is the decoder's current slab and how much of each of its arrays is used.
type slabs struct {
	cur    *slab
	ns, nw int
}

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
	if d.slabs.cur == nil || d.slabs.ns == slabSize {
		d.slabs = slabs{cur: new(slab)}
	}
	p := &d.slabs.cur.strs[d.slabs.ns]
	*p = s
	d.slabs.ns++
	return box(stringType, unsafe.Pointer(p))
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
	if d.slabs.cur == nil || d.slabs.nw == slabSize {
		d.slabs = slabs{cur: new(slab)}
	}
	p := &d.slabs.cur.words[d.slabs.nw]
	*p = w
	d.slabs.nw++
	return unsafe.Pointer(p)
}
