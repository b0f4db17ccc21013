package etf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"unsafe"
)

// Unmarshal decodes the external term data into the value v points to, with the default Limits. See
// UnmarshalWith.
func Unmarshal(data []byte, v any) error {
	return unmarshal(data, "", v, Limits{})
}

// UnmarshalWith decodes the external term data (starting with the version byte 131, possibly
// compressed) into the value v points to, straight from the bytes: no intermediate map or []any is
// built for the parts that go into structs, slices, maps and scalars.
//
//	Go type                     accepts
//	struct                      a map with binary or atom keys (Elixir maps and structs): each key
//	                            fills the field of that name (see Marshal for names and tags), or
//	                            else the one whose name equals it but for ASCII case; other keys are
//	                            ignored; fields without a key keep their value
//	map[K]V                     a map whose keys fit K (a new map replaces *v)
//	string kinds                a binary, or an atom (its text)
//	Atom                        an atom
//	[]byte, [N]byte             a binary (of N bytes)
//	bool                        true, false
//	integer kinds               an integer that fits
//	float32, float64            a float, or an integer
//	slice, array                a list or a tuple (an array: of at most N elements, the rest zero)
//	pointer                     what its element accepts (allocated when nil)
//	any                         any term, as Decode returns it
//	Raw                         any term: a copy of its bytes
//	*big.Int, big.Int           an integer
//	Tuple, Map, Pid, Ref...     what Decode returns for them
//
// The atom nil stores the zero value (a nil pointer, slice, map or interface) in any Go type. A term
// that does not fit is an *UnmarshalTypeError naming the term and the field; the first one ends the
// decoding. Every limit of Decode applies (lengths checked against the bytes left before anything
// is allocated for them, MaxDepth, MaxSize, MaxAtoms, duplicate keys rejected, trailing bytes
// rejected) and its errors are the same. Strings are substrings of one copy of the term when it is
// at most ShareLimit bytes long, as Decode's are.
func UnmarshalWith(data []byte, v any, lim Limits) error {
	return unmarshal(data, "", v, lim)
}

// UnmarshalString is UnmarshalWith for a term held in a string: the strings of a term of up to
// ShareLimit bytes are substrings of s, not copies.
func UnmarshalString(s string, v any, lim Limits) error {
	return unmarshal(unsafe.Slice(unsafe.StringData(s), len(s)), s, v, lim)
}

func unmarshal(b []byte, s string, v any, lim Limits) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("etf: Unmarshal needs a non-nil pointer, got %s", reflect.TypeOf(v))
	}
	c := codecFor(rv.Type().Elem())
	d, release, err := open(b, s, lim)
	if err != nil {
		return err
	}
	if release != nil {
		defer release()
	}
	d.share = d.str == "" && len(d.b) <= ShareLimit
	if err := d.value(c, rv.Elem()); err != nil {
		return err
	}
	return d.end()
}

func isAtomTag(tag byte) bool {
	return tag == tagSmallAtomUTF8 || tag == tagAtom || tag == tagSmallAtom || tag == tagAtomUTF8
}

// value decodes the next term into v (settable) of codec c.
func (d *decoder) value(c *codec, v reflect.Value) error {
	if d.off >= len(d.b) {
		return d.need(1)
	}
	at := d.off
	tag := d.b[at]
	switch c.kind {
	case kAny:
		x, err := d.term()
		if err != nil {
			return err
		}
		if x == nil {
			v.SetZero()
		} else {
			v.Set(reflect.ValueOf(x))
		}
		return nil
	case kGeneric, kIface:
		return d.generic(c, v)
	case kRaw:
		if err := d.skip(); err != nil {
			return err
		}
		v.SetBytes(append([]byte(nil), d.b[at:d.off]...))
		return nil
	case kRawTerm:
		if err := d.skip(); err != nil {
			return err
		}
		if d.share && d.str == "" {
			d.str = string(d.b)
		}
		if d.str != "" {
			v.SetString(d.str[at:d.off])
		} else {
			v.SetString(string(d.b[at:d.off]))
		}
		return nil
	}
	if isAtomTag(tag) {
		return d.atomValue(c, v)
	}
	switch c.kind {
	case kString:
		if tag != tagBinary {
			return d.typeError(at, c.typ)
		}
		d.off++
		n, err := d.count(1)
		if err != nil {
			return err
		}
		s, err := d.binary(n)
		if err != nil {
			return err
		}
		v.SetString(s)
		return nil
	case kInt, kUint, kFloat, kBig:
		return d.number(c, v)
	case kBytes, kByteArray:
		if tag != tagBinary {
			return d.typeError(at, c.typ)
		}
		d.off++
		n, err := d.count(1)
		if err != nil {
			return err
		}
		b, err := d.bytes(n)
		if err != nil {
			return err
		}
		if c.kind == kBytes {
			v.SetBytes(append([]byte(nil), b...))
			return nil
		}
		if n != v.Len() {
			return d.typeError(at, c.typ)
		}
		reflect.Copy(v, reflect.ValueOf(b))
		return nil
	case kPtr:
		if v.IsNil() {
			if err := d.charge(uint64(c.typ.Elem().Size())); err != nil {
				return err
			}
			v.Set(reflect.New(c.typ.Elem()))
		}
		return d.value(c.elem, v.Elem())
	case kSlice, kArray:
		return d.sequence(c, v)
	case kMap:
		return d.mapValue(c, v)
	case kStruct:
		return d.structValue(c, v)
	}
	return d.typeError(at, c.typ)
}

// atomValue decodes the atom that comes next into v: nil as the zero value, true and false into
// bools, other atoms into strings and Atoms.
func (d *decoder) atomValue(c *codec, v reflect.Value) error {
	at := d.off
	d.off++
	b, latin, err := d.atomBytes(d.b[at])
	if err != nil {
		return err
	}
	switch string(b) {
	case "nil":
		v.SetZero()
		return nil
	case "true", "false":
		if c.kind == kBool {
			v.SetBool(string(b) == "true")
			return nil
		}
	}
	switch c.kind {
	case kString, kAtom:
		if latin {
			v.SetString(string(latin1Atom(b)))
		} else {
			v.SetString(string(internAtom(b)))
		}
		return nil
	case kPtr:
		d.off = at
		d.atoms--
		return d.value(c, v) // allocates the element, then stores the atom in it
	}
	return d.typeError(at, c.typ)
}

// generic decodes the next term as Decode does and stores it in v when its type fits.
func (d *decoder) generic(c *codec, v reflect.Value) error {
	at := d.off
	x, err := d.term()
	if err != nil {
		return err
	}
	if x == nil {
		v.SetZero()
		return nil
	}
	if xv := reflect.ValueOf(x); xv.Type().AssignableTo(c.typ) {
		v.Set(xv)
		return nil
	}
	return d.typeError(at, c.typ)
}

// number decodes the integer or float that comes next into v, an integer, float or big.Int.
func (d *decoder) number(c *codec, v reflect.Value) error {
	at := d.off
	tag := d.b[at]
	if tag == tagNewFloat || tag == tagFloat {
		if c.kind != kFloat {
			return d.typeError(at, c.typ)
		}
		d.off++
		var f float64
		if tag == tagNewFloat {
			b, err := d.bytes(8)
			if err != nil {
				return err
			}
			f = math.Float64frombits(binary.BigEndian.Uint64(b))
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return d.errf(ErrMalformed, "non-finite float")
			}
		} else {
			x, err := d.oldFloat()
			if err != nil {
				return err
			}
			f = x.(float64)
		}
		if v.OverflowFloat(f) {
			return &UnmarshalTypeError{Term: "float " + strconv.FormatFloat(f, 'g', -1, 64), Type: c.typ, Offset: at}
		}
		v.SetFloat(f)
		return nil
	}
	switch tag {
	case tagSmallInteger, tagInteger, tagSmallBig, tagLargeBig:
	default:
		return d.typeError(at, c.typ)
	}
	if c.kind == kBig {
		return d.bigValue(c, v)
	}
	neg, mag, fits, err := d.integer()
	if err != nil {
		return err
	}
	switch c.kind {
	case kInt:
		if fits && (!neg && mag <= math.MaxInt64 || neg && mag <= 1<<63) {
			x := int64(mag)
			if neg {
				x = -x
			}
			if !v.OverflowInt(x) {
				v.SetInt(x)
				return nil
			}
		}
	case kUint:
		if fits && (!neg || mag == 0) && !v.OverflowUint(mag) {
			v.SetUint(mag)
			return nil
		}
	case kFloat:
		f := float64(mag)
		if !fits {
			f = math.Inf(1) // beyond every Go float but the most precise float64: refused below
		}
		if neg {
			f = -f
		}
		if !math.IsInf(f, 0) && !v.OverflowFloat(f) {
			v.SetFloat(f)
			return nil
		}
	}
	term := "integer"
	if fits {
		term += " " + strconv.FormatUint(mag, 10)
		if neg {
			term = "integer -" + strconv.FormatUint(mag, 10)
		}
	}
	return &UnmarshalTypeError{Term: term, Type: c.typ, Offset: at}
}

// integer reads the integer that comes next (its tag is an integer's): its sign and, when it fits in
// 64 bits, its magnitude.
func (d *decoder) integer() (neg bool, mag uint64, fits bool, err error) {
	tag := d.b[d.off]
	d.off++
	switch tag {
	case tagSmallInteger:
		b, err := d.u8()
		return false, uint64(b), true, err
	case tagInteger:
		u, err := d.u32()
		x := int64(int32(u))
		if x < 0 {
			return true, uint64(-x), true, err
		}
		return false, uint64(x), true, err
	}
	var n int
	if tag == tagSmallBig {
		var c byte
		c, err = d.u8()
		n = int(c)
	} else {
		n, err = d.count(1)
	}
	if err != nil {
		return false, 0, false, err
	}
	sign, err := d.u8()
	if err != nil {
		return false, 0, false, err
	}
	if sign > 1 {
		return false, 0, false, d.errf(ErrMalformed, "bignum sign %d", sign)
	}
	if n > maxBigBytes {
		return false, 0, false, d.errf(ErrTooLarge, "bignum of %d bytes", n)
	}
	b, err := d.bytes(n)
	if err != nil {
		return false, 0, false, err
	}
	for n > 0 && b[n-1] == 0 { // leading zeros of the magnitude (little-endian)
		n--
	}
	if n > 8 {
		return sign == 1, 0, false, nil
	}
	for i := n - 1; i >= 0; i-- {
		mag = mag<<8 | uint64(b[i])
	}
	return sign == 1, mag, true, nil
}

// bigValue decodes the integer that comes next into v, a big.Int or a *big.Int.
func (d *decoder) bigValue(c *codec, v reflect.Value) error {
	x, err := d.term()
	if err != nil {
		return err
	}
	b, ok := x.(*big.Int)
	if !ok {
		b = big.NewInt(x.(int64))
	}
	if c.typ == bigIntPtrType {
		v.Set(reflect.ValueOf(b))
	} else {
		v.Set(reflect.ValueOf(b).Elem())
	}
	return nil
}

// RawTerm is the encoding of one term without its version byte, as a string. Unmarshal stores a term
// into a RawTerm, checked as Decode checks it but not decoded, as a substring of the input when the
// term is at most ShareLimit bytes long (no copy with UnmarshalString); DecodeRawTerm and
// UnmarshalRawTerm decode it later. Marshal writes it as it is, as Raw.
type RawTerm string

// DecodeRawTerm decodes t as Decode decodes a term, with the limits lim.
func DecodeRawTerm(t RawTerm, lim Limits) (any, error) {
	d, err := openRaw(t, lim)
	if err != nil {
		return nil, err
	}
	v, err := d.term()
	if err != nil {
		return nil, err
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return v, nil
}

// UnmarshalRawTerm decodes t into the value v points to as UnmarshalWith does, with the limits lim.
// Strings are substrings of t when it is at most ShareLimit bytes long.
func UnmarshalRawTerm(t RawTerm, v any, lim Limits) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("etf: Unmarshal needs a non-nil pointer, got %s", reflect.TypeOf(v))
	}
	d, err := openRaw(t, lim)
	if err != nil {
		return err
	}
	if err := d.value(codecFor(rv.Type().Elem()), rv.Elem()); err != nil {
		return err
	}
	return d.end()
}

func openRaw(t RawTerm, lim Limits) (decoder, error) {
	lim = lim.withDefaults()
	if len(t) > lim.MaxSize {
		return decoder{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(t), lim.MaxSize)
	}
	d := decoder{b: unsafe.Slice(unsafe.StringData(string(t)), len(t)), lim: lim}
	if len(t) <= ShareLimit {
		d.str = string(t)
	}
	return d, nil
}
