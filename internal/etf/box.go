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

var (
	listType  = typeOf([]any(nil))
	tupleType = typeOf(Tuple(nil))
)

// withHeader is a list's elements and its slice header in one allocation, so that boxing the list
// allocates nothing more: the header is the box's value. It keeps nothing alive but the list.
type withHeader[A any] struct {
	s []any
	a A
}

// newSlice returns n (≤ maxInline) elements, and typ's box of them, from one allocation.
func newSlice[A any](n int, typ unsafe.Pointer) ([]any, any) {
	p := new(withHeader[A])
	p.s = unsafe.Slice((*any)(unsafe.Pointer(&p.a)), n)
	return p.s, box(typ, unsafe.Pointer(&p.s))
}

// maxInline is the longest list or tuple whose box shares its elements' allocation.
const maxInline = 8

// newElems returns n elements for a list or a tuple (typ is listType or tupleType) and, for up to
// maxInline elements, their box (nil otherwise: the caller boxes them).
func newElems(n int, typ unsafe.Pointer) ([]any, any) {
	switch n {
	case 1:
		return newSlice[[1]any](n, typ)
	case 2:
		return newSlice[[2]any](n, typ)
	case 3:
		return newSlice[[3]any](n, typ)
	case 4:
		return newSlice[[4]any](n, typ)
	case 5:
		return newSlice[[5]any](n, typ)
	case 6:
		return newSlice[[6]any](n, typ)
	case 7:
		return newSlice[[7]any](n, typ)
	case 8:
		return newSlice[[8]any](n, typ)
	}
	return make([]any, n), nil
}
