package etf

import (
	"reflect"
	"unsafe"
)

// allocFactor bounds the memory Unmarshal allocates for slice elements, map entries and pointed-to
// values: at most allocFactor times the term's size, plus allocSlack. A term's elements can take far
// more memory as Go values than as bytes (a 1-byte [] fills a 24-byte slice header, a 5-byte nil a
// whole struct), and a hostile term must not turn a megabyte into gigabytes.
const (
	allocFactor = 64
	allocSlack  = 1 << 20
)

// charge counts n bytes about to be allocated against the budget.
func (d *decoder) charge(n uint64) error {
	d.spent += n
	if d.spent > allocFactor*uint64(len(d.b))+allocSlack {
		return d.errf(ErrTooLarge, "the Go values would take more than %d times the term's %d bytes", allocFactor, len(d.b))
	}
	return nil
}

// sequence decodes the list or tuple that comes next into v, a slice or an array.
func (d *decoder) sequence(c *codec, v reflect.Value) error {
	at := d.off
	tag := d.b[at]
	d.off++
	var n int
	var err error
	switch tag {
	case tagNil:
		if c.kind == kArray {
			v.SetZero()
		} else if v.IsNil() { // empty, not nil: in place, without reflect.MakeSlice's allocation
			*(*sliceHeader)(unsafe.Pointer(v.UnsafeAddr())) = sliceHeader{data: unsafe.Pointer(&zeroSized)}
		} else {
			v.SetLen(0)
		}
		return nil
	case tagString:
		if n, err = d.u16(); err != nil {
			return err
		}
		b, err := d.bytes(n)
		if err != nil {
			return err
		}
		if err := d.resize(c, v, n, at); err != nil {
			return err
		}
		for i, x := range b {
			if err := d.small(c.elem, v.Index(i), x, at); err != nil {
				return err
			}
		}
		return nil
	case tagList:
		if n, err = d.count(1); err != nil {
			return err
		}
		if n+1 > d.left() { // the tail takes a byte too
			return d.errf(ErrTruncated, "list of %d elements, %d bytes left", n, d.left())
		}
	case tagSmallTuple:
		var b byte
		b, err = d.u8()
		n = int(b)
	case tagLargeTuple:
		n, err = d.count(1)
	default:
		d.off = at
		return d.typeError(at, c.typ)
	}
	if err != nil {
		return err
	}
	if n > d.left() {
		return d.errf(ErrTruncated, "%d elements, %d bytes left", n, d.left())
	}
	if err := d.enter(); err != nil {
		return err
	}
	if err := d.resize(c, v, n, at); err != nil {
		return err
	}
	var data unsafe.Pointer // the elements' address, for scalars (see leaf.go)
	if c.elem.kind >= kBool && c.elem.kind <= kString && n > 0 {
		data = unsafe.Pointer(v.Index(0).UnsafeAddr())
	}
	size := c.elem.typ.Size()
	for i := range n {
		if data != nil {
			if done, err := d.decodeLeaf(c.elem, unsafe.Add(data, uintptr(i)*size)); done || err != nil {
				if err != nil {
					return err
				}
				continue
			}
		}
		if err := d.value(c.elem, v.Index(i)); err != nil {
			return err
		}
	}
	if tag == tagList {
		if d.off >= len(d.b) || d.b[d.off] != tagNil {
			return d.typeErrorTerm(at, "improper list", c.typ)
		}
		d.off++
	}
	d.depth--
	return nil
}

// sliceHeader is the layout of a slice; zeroSized is where the empty slices Unmarshal makes point.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

var zeroSized struct{}

// resize makes v (a slice) n elements long, zeroed, or checks that an array v can take n elements and
// zeroes it. A slice long enough is reused; a new one is charged to the budget first.
func (d *decoder) resize(c *codec, v reflect.Value, n, at int) error {
	if c.kind == kArray {
		if n > v.Len() {
			return d.typeErrorTerm(at, "list or tuple of more elements than", c.typ)
		}
		v.SetZero()
		return nil
	}
	if n <= v.Cap() {
		v.SetLen(n)
		for i := range n {
			v.Index(i).SetZero()
		}
		return nil
	}
	if err := d.charge(uint64(n) * uint64(c.elem.typ.Size())); err != nil {
		return err
	}
	v.SetLen(0)
	v.Grow(n) // in place: no slice header to allocate, unlike reflect.MakeSlice
	v.SetLen(n)
	return nil
}

// small stores x, an element of a STRING_EXT (a list of small integers), in v.
func (d *decoder) small(c *codec, v reflect.Value, x byte, at int) error {
	switch c.kind {
	case kInt:
		if !v.OverflowInt(int64(x)) {
			v.SetInt(int64(x))
			return nil
		}
	case kUint:
		if !v.OverflowUint(uint64(x)) {
			v.SetUint(uint64(x))
			return nil
		}
	case kFloat:
		v.SetFloat(float64(x))
		return nil
	case kAny:
		v.Set(reflect.ValueOf(int64(x)))
		return nil
	case kPtr:
		if v.IsNil() {
			if err := d.charge(uint64(c.typ.Elem().Size())); err != nil {
				return err
			}
			v.Set(reflect.New(c.typ.Elem()))
		}
		return d.small(c.elem, v.Elem(), x, at)
	}
	return d.typeErrorTerm(at, "list of integers", c.typ)
}

// typeErrorTerm is an *UnmarshalTypeError with its own description of the term.
func (d *decoder) typeErrorTerm(at int, term string, t reflect.Type) error {
	return &UnmarshalTypeError{Term: term, Type: t, Offset: at}
}

// mapValue decodes the map that comes next into v, a map: a new one, whose keys are decoded into its
// key type (so binaries and atoms into string keys) and must be distinct.
func (d *decoder) mapValue(c *codec, v reflect.Value) error {
	at := d.off
	if d.b[at] != tagMap {
		return d.typeError(at, c.typ)
	}
	if c.typ == stringMapType {
		d.off++
		x, err := d.mapTerm() // Decode's own map[string]any, or a Map for other keys
		if err == nil {
			err = d.setStringMap(x, v, at)
		}
		return err
	}
	d.off++
	n, err := d.count(2)
	if err != nil {
		return err
	}
	if err := d.enter(); err != nil {
		return err
	}
	// the map itself, its entries, and the key and value the pairs are decoded into
	if err := d.charge(uint64(n+1)*uint64(c.key.typ.Size()+c.elem.typ.Size()) + mapOverhead); err != nil {
		return err
	}
	m := reflect.MakeMapWithSize(c.typ, min(n, maxMapHint))
	key, val := reflect.New(c.key.typ).Elem(), reflect.New(c.elem.typ).Elem()
	for range n {
		if err := d.value(c.key, key); err != nil {
			return err
		}
		val.SetZero()
		if err := d.value(c.elem, val); err != nil {
			return err
		}
		m.SetMapIndex(key, val)
	}
	if m.Len() != n {
		return d.errf(ErrDuplicateKey, "a map of %d pairs has %d distinct keys as %s", n, m.Len(), c.typ)
	}
	v.Set(m)
	d.depth--
	return nil
}

var stringMapType = reflect.TypeFor[map[string]any]()

// mapOverhead is what an empty Go map takes, about, for charge.
const mapOverhead = 64

// setStringMap stores x, a map Decode returned, in v, a map[string]any: as it is, or, for a Map
// whose keys are binaries and atoms, as their texts.
func (d *decoder) setStringMap(x any, v reflect.Value, at int) error {
	switch m := x.(type) {
	case map[string]any:
		v.Set(reflect.ValueOf(m))
		return nil
	case Map:
		out := make(map[string]any, len(m))
		for _, p := range m {
			var k string
			switch key := p.Key.(type) {
			case string:
				k = key
			case Atom:
				k = string(key)
			default:
				return d.typeErrorTerm(at, "map with a "+describeValue(p.Key)+" key", stringMapType)
			}
			if _, dup := out[k]; dup {
				return d.errf(ErrDuplicateKey, "keys %q as a binary and as an atom", k)
			}
			out[k] = p.Value
		}
		v.Set(reflect.ValueOf(out))
		return nil
	}
	return d.typeError(at, stringMapType)
}

// describeValue names the kind of term a decoded value is.
func describeValue(x any) string {
	switch x.(type) {
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool, nil, Atom:
		return "atom"
	case string:
		return "binary"
	case []any, ImproperList:
		return "list"
	case Tuple:
		return "tuple"
	case map[string]any, Map:
		return "map"
	}
	return "term"
}

// maxSeenFields is how many fields a struct's decoding tracks on the stack to reject two keys for one
// field; a larger struct allocates its set.
const maxSeenFields = 256

// structValue decodes the map that comes next into v, a struct: each binary or atom key fills the
// field of its name; other keys (and their values) are checked as Decode checks them, then ignored.
func (d *decoder) structValue(c *codec, v reflect.Value) error {
	at := d.off
	if d.b[at] != tagMap {
		return d.typeError(at, c.typ)
	}
	d.off++
	n, err := d.count(2)
	if err != nil {
		return err
	}
	if err := d.enter(); err != nil {
		return err
	}
	var seenArr [maxSeenFields / 64]uint64
	seen := seenArr[:]
	if len(c.fields) > maxSeenFields {
		seen = make([]uint64, (len(c.fields)+63)/64)
	}
	var unknownArr [8]int
	unknown := unknownArr[:0] // where the keys that name no field are
	base := unsafe.Pointer(v.UnsafeAddr())
	next := 0 // the field that comes next when keys come in order
	for range n {
		keyAt := d.off
		name, err := d.keyText()
		if err != nil {
			return err
		}
		i := -1
		if name != nil {
			i = c.lookup(name, next)
		}
		if i < 0 {
			d.off = keyAt
			unknown = append(unknown, keyAt)
			if err := d.skip(); err != nil { // the key
				return err
			}
			if err := d.skip(); err != nil { // its value
				return err
			}
			continue
		}
		if seen[i/64]&(1<<(i%64)) != 0 {
			return d.errf(ErrDuplicateKey, "two keys for the field %s of %s", c.fields[i].name, c.typ)
		}
		seen[i/64] |= 1 << (i % 64)
		next = i + 1
		f := &c.fields[i]
		if done, err := d.decodeLeaf(f.c, unsafe.Add(base, f.offset)); done || err != nil {
			if err != nil {
				return inField(err, f.name)
			}
			continue
		}
		fv := v.Field(f.index[0])
		if len(f.index) > 1 {
			fv = v.FieldByIndex(f.index)
		}
		if err := d.value(f.c, fv); err != nil {
			return inField(err, f.name)
		}
	}
	if len(unknown) > 1 {
		if err := d.distinct(unknown); err != nil {
			return err
		}
	}
	d.depth--
	return nil
}

// keyText reads a key that is a binary or an atom and returns its text; for a key of another type,
// it reads nothing and returns nil.
func (d *decoder) keyText() ([]byte, error) {
	if err := d.need(1); err != nil {
		return nil, err
	}
	tag := d.b[d.off]
	if tag == tagBinary {
		d.off++
		n, err := d.count(1)
		if err != nil {
			return nil, err
		}
		return d.bytes(n)
	}
	if !isAtomTag(tag) {
		return nil, nil
	}
	d.off++
	b, latin, err := d.atomBytes(tag)
	if err != nil || !latin {
		return b, err
	}
	return []byte(latin1Atom(b)), nil
}

// lookup returns the index of the field named name, trying the field after the last one first (keys
// that come in term order, as Marshal and Erlang write them, meet the fields in their order), then
// every name, then every name but for ASCII case; -1 when none matches.
func (c *codec) lookup(name []byte, next int) int {
	if next < len(c.fields) && c.fields[next].name == string(name) {
		return next
	}
	if i, ok := c.byName[string(name)]; ok {
		return i
	}
	for i := range c.fields {
		if equalFoldASCII(c.fields[i].name, name) {
			return i
		}
	}
	return -1
}

// distinct checks that the keys at offsets at, which named no field, are distinct terms (as Decode
// checks every map's keys).
func (d *decoder) distinct(at []int) error {
	off, atoms := d.off, d.atoms
	defer func() { d.off, d.atoms = off, atoms }()
	keys := make(Map, len(at))
	for i, a := range at {
		d.off = a
		k, err := d.term()
		if err != nil {
			return err
		}
		keys[i].Key = k
	}
	if err := checkDuplicates(keys); err != nil {
		return d.errf(err, "in a map of %d keys that name no field", len(keys))
	}
	return nil
}

// equalFoldASCII reports whether s and b are the same text but for the case of ASCII letters.
func equalFoldASCII(s string, b []byte) bool {
	if len(s) != len(b) {
		return false
	}
	for i := range len(b) {
		x, y := s[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}
