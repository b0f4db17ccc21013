package etf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"unsafe"
)

// Marshal returns v as an external term, as Encoder{}.Append writes it. Beyond the values of the
// package's type mapping, it writes Go structs (and pointers to them) as maps with binary keys in
// term order, as Phoenix applications' JSON-like payloads are: a field's key is its `etf:"name"` tag,
// or else its Go name; `etf:"-"` leaves it out, `etf:",omitempty"` leaves it out when it is false,
// 0, "", nil or empty; the fields of embedded structs are promoted (as with encoding/json). Nil
// pointers (a nil *big.Int too), nil interfaces and empty Raw values are nil, nil slices [] and nil
// maps %{}; slices and arrays are lists (of integers 0..255: as STRING_EXT, as Erlang writes them),
// []byte and [N]byte binaries, maps with string keys maps with binary keys, maps with Atom keys maps
// with atom keys.
func Marshal(v any) ([]byte, error) {
	var e Encoder
	return e.Append(nil, v)
}

// MarshalAppend appends v to dst as Marshal writes it: the appending variant, for a buffer reused
// from one term to the next. On error dst is returned with its original length.
func MarshalAppend(dst []byte, v any) ([]byte, error) {
	var e Encoder
	return e.Append(dst, v)
}

// encodeValue writes v, of codec c (a kind the type switch of appendTerm does not name).
func (e *Encoder) encodeValue(dst []byte, c *codec, v reflect.Value, depth int) ([]byte, error) {
	switch c.kind {
	case kBool:
		if v.Bool() {
			return e.appendSpecial(dst, atomTrue), nil
		}
		return e.appendSpecial(dst, atomFalse), nil
	case kInt:
		return appendInt(dst, v.Int()), nil
	case kUint:
		if u := v.Uint(); u > math.MaxInt64 {
			return appendBig(dst, new(big.Int).SetUint64(u)), nil
		}
		return appendInt(dst, int64(v.Uint())), nil
	case kFloat:
		return appendFloat(dst, v.Float())
	case kString:
		return appendBinary(dst, v.String()), nil
	case kAtom:
		return e.atom(dst, Atom(v.String()))
	case kBytes:
		return appendBinary(dst, v.Bytes()), nil
	case kByteArray:
		dst = append(dst, tagBinary)
		dst = binary.BigEndian.AppendUint32(dst, uint32(v.Len()))
		for i := range v.Len() {
			dst = append(dst, byte(v.Index(i).Uint()))
		}
		return dst, nil
	case kAny, kIface:
		if v.IsNil() {
			return e.appendSpecial(dst, atomNil), nil
		}
		return e.appendTerm(dst, v.Elem().Interface(), depth)
	case kPtr:
		if v.IsNil() {
			return e.appendSpecial(dst, atomNil), nil
		}
		if err := e.enter(depth); err != nil { // a Go value may be cyclic through pointers alone
			return dst, err
		}
		return e.encodeValue(dst, c.elem, v.Elem(), depth+1)
	case kSlice, kArray:
		return e.sequence(dst, c, v, depth)
	case kStruct:
		return e.structValue(dst, c, v, depth)
	case kMap:
		if v.IsNil() {
			return append(dst, tagMap, 0, 0, 0, 0), nil
		}
		if m, ok := v.Interface().(map[string]any); ok {
			return e.stringMap(dst, m, depth)
		}
		return e.reflectMap(dst, v, depth)
	case kBig:
		if c.typ == bigIntType {
			if !v.CanAddr() {
				b := v.Interface().(big.Int)
				return appendBig(dst, &b), nil
			}
			return appendBig(dst, v.Addr().Interface().(*big.Int)), nil
		}
		if v.IsNil() {
			return e.appendSpecial(dst, atomNil), nil
		}
		return e.appendTerm(dst, v.Interface(), depth)
	case kRaw:
		if v.Len() == 0 { // no term: nil, as a nil pointer
			return e.appendSpecial(dst, atomNil), nil
		}
		return append(dst, v.Bytes()...), nil
	case kRawTerm:
		if v.Len() == 0 {
			return e.appendSpecial(dst, atomNil), nil
		}
		return append(dst, v.String()...), nil
	case kGeneric:
		return e.appendTerm(dst, v.Interface(), depth)
	}
	return dst, fmt.Errorf("%w: Go type %s", ErrUnencodable, c.typ)
}

// sequence writes a slice or an array as a list; one of 1 to 65535 integers 0..255 as STRING_EXT, as
// Erlang does.
func (e *Encoder) sequence(dst []byte, c *codec, v reflect.Value, depth int) ([]byte, error) {
	n := v.Len()
	if n == 0 {
		return append(dst, tagNil), nil
	}
	if n <= math.MaxUint16 && byteSequence(c.elem, v) {
		dst = append(dst, tagString, byte(n>>8), byte(n))
		for i := range n {
			b, _ := smallValue(c.elem, v.Index(i))
			dst = append(dst, b)
		}
		return dst, nil
	}
	if err := e.enter(depth); err != nil {
		return dst, err
	}
	dst = append(dst, tagList)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	var err error
	for i := range n {
		if dst, err = e.encodeValue(dst, c.elem, v.Index(i), depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, tagNil), nil
}

// byteSequence reports whether every element of v is an integer 0..255.
func byteSequence(elem *codec, v reflect.Value) bool {
	switch elem.kind {
	case kInt, kUint, kAny, kIface:
	default:
		return false
	}
	for i := range v.Len() {
		if _, ok := smallValue(elem, v.Index(i)); !ok {
			return false
		}
	}
	return true
}

// smallValue reports whether v is an integer 0..255, and its value.
func smallValue(c *codec, v reflect.Value) (byte, bool) {
	switch c.kind {
	case kInt:
		if x := v.Int(); x >= 0 && x <= 255 {
			return byte(x), true
		}
		return 0, false
	case kUint:
		if x := v.Uint(); x <= 255 {
			return byte(x), true
		}
		return 0, false
	case kAny, kIface:
		if v.IsNil() {
			return 0, false
		}
		return smallInt(v.Elem().Interface())
	}
	return 0, false
}

// structValue writes a struct as a map with its fields' names as binary keys, in term order.
func (e *Encoder) structValue(dst []byte, c *codec, v reflect.Value, depth int) ([]byte, error) {
	if err := e.enter(depth); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, tagMap, 0, 0, 0, 0)
	n := 0
	var err error
	var base unsafe.Pointer // the struct's address, when it has one: scalar fields are read through it
	if v.CanAddr() {
		base = unsafe.Pointer(v.UnsafeAddr())
	}
	for i := range c.fields {
		f := &c.fields[i]
		if base != nil && !f.omitEmpty {
			var done bool
			start := len(dst)
			dst = append(dst, f.key...)
			if dst, done, err = e.encodeLeaf(dst, f.c, unsafe.Add(base, f.offset)); done {
				if err != nil {
					return dst[:start], fmt.Errorf("field %s: %w", f.name, err)
				}
				n++
				continue
			}
			dst = dst[:start]
		}
		fv := v.Field(f.index[0])
		if len(f.index) > 1 {
			fv = v.FieldByIndex(f.index)
		}
		if f.omitEmpty && isEmpty(fv) {
			continue
		}
		dst = append(dst, f.key...)
		if dst, err = e.encodeValue(dst, f.c, fv, depth+1); err != nil {
			return dst, fmt.Errorf("field %s: %w", f.name, err)
		}
		n++
	}
	binary.BigEndian.PutUint32(dst[start+1:], uint32(n))
	return dst, nil
}

// isEmpty reports whether omitempty leaves v out: false, 0, "", a nil pointer or interface, an empty
// slice, map or array (a struct never is, as with encoding/json).
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.Slice, reflect.Map, reflect.Array, reflect.String:
		return v.Len() == 0
	}
	return false
}
