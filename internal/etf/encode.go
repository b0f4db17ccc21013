package etf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Encoder writes Go values as external terms (see the package documentation for the mapping). Its
// zero value writes atoms as OTP 26+ does, allows every atom and does not compress. Configure it
// before use; it is then safe for concurrent use.
type Encoder struct {
	// AllowAtom, when set, is asked about every Atom of a value (the nodes of pids and references
	// included); false fails the encoding with ErrAtomNotAllowed. Nil allows every atom. Go's nil, true
	// and false are always allowed.
	AllowAtom func(Atom) bool
	// LegacyAtoms writes latin-1 atoms as ATOM_EXT, as OTP 25 does; by default every atom is written as
	// SMALL_ATOM_UTF8_EXT, as OTP 26 and later do (OTP 25 reads both).
	LegacyAtoms bool
	// Compression is the zlib level, 0 (none, the default) to 9. As with term_to_binary's compressed
	// option, the compressed form is kept only when it is smaller.
	Compression int
	// MaxDepth bounds how deeply the value may nest (a Go value may even be cyclic). Default
	// DefaultMaxDepth.
	MaxDepth int
}

// Append appends v as an external term (the version byte 131 first) to dst. On error dst is returned
// with its original length. The errors wrap ErrUnencodable, ErrAtomNotAllowed, ErrBadAtom or
// ErrTooDeep.
func (e *Encoder) Append(dst []byte, v any) ([]byte, error) {
	start := len(dst)
	dst = append(dst, version)
	body := len(dst)
	dst, err := e.appendTerm(dst, v, 0)
	if err != nil {
		return dst[:start], err
	}
	if e.Compression > 0 {
		if dst, err = e.compress(dst, body); err != nil {
			return dst[:start], err
		}
	}
	return dst, nil
}

// compress replaces dst[body:] by its COMPRESSED_EXT form when that is smaller.
func (e *Encoder) compress(dst []byte, body int) ([]byte, error) {
	if e.Compression > 9 {
		return dst, fmt.Errorf("%w: compression level %d (0..9)", ErrUnencodable, e.Compression)
	}
	term := dst[body:]
	zp := deflateBufs.Get().(*[]byte)
	defer deflateBufs.Put(zp)
	z, err := deflate((*zp)[:0], term, e.Compression)
	*zp = z[:0]
	if err != nil {
		return dst, fmt.Errorf("%w: zlib: %v", ErrUnencodable, err)
	}
	if 5+len(z) >= len(term) {
		return dst, nil
	}
	size := len(term)
	dst = append(dst[:body], tagCompressed, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[body+1:], uint32(size))
	return append(dst, z...), nil
}

// Raw is a term already encoded (without the version byte), which Append copies as it is, without
// checking it or its atoms: for the fixed parts of a message that its sender built with AppendAtom.
// Decode never returns one.
type Raw []byte

// AppendAtom appends the encoding of atom a (without the version byte) as Encoder does (legacy: as
// Encoder.LegacyAtoms does), or returns ErrBadAtom for an atom longer than 255 characters or not UTF-8.
func AppendAtom(dst []byte, a Atom, legacy bool) ([]byte, error) {
	out, err := appendAtom(dst, string(a), legacy)
	if err != nil {
		return dst, fmt.Errorf("%w: %q", err, string(a))
	}
	return out, nil
}

var deflateBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (e *Encoder) maxDepth() int {
	if e.MaxDepth > 0 {
		return e.MaxDepth
	}
	return DefaultMaxDepth
}

func (e *Encoder) atom(dst []byte, a Atom) ([]byte, error) {
	if e.AllowAtom != nil && !e.AllowAtom(a) {
		return dst, fmt.Errorf("%w: %q", ErrAtomNotAllowed, string(a))
	}
	out, err := appendAtom(dst, string(a), e.LegacyAtoms)
	if err != nil {
		return dst, fmt.Errorf("%w: %q", err, string(a))
	}
	return out, nil
}

func (e *Encoder) appendTerm(dst []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return e.appendSpecial(dst, atomNil), nil
	case bool:
		if v {
			return e.appendSpecial(dst, atomTrue), nil
		}
		return e.appendSpecial(dst, atomFalse), nil
	case string:
		return appendBinary(dst, v), nil
	case []byte:
		return appendBinary(dst, v), nil
	case int64:
		return appendInt(dst, v), nil
	case int:
		return appendInt(dst, int64(v)), nil
	case int32:
		return appendInt(dst, int64(v)), nil
	case uint64:
		if v > math.MaxInt64 {
			return appendBig(dst, new(big.Int).SetUint64(v)), nil
		}
		return appendInt(dst, int64(v)), nil
	case float64:
		return appendFloat(dst, v)
	case Atom:
		return e.atom(dst, v)
	case Raw:
		if len(v) == 0 {
			return dst, fmt.Errorf("%w: an empty Raw (no term)", ErrUnencodable)
		}
		return append(dst, v...), nil
	case RawTerm:
		if len(v) == 0 {
			return dst, fmt.Errorf("%w: an empty RawTerm (no term)", ErrUnencodable)
		}
		return append(dst, v...), nil
	case *big.Int:
		if v == nil {
			return dst, fmt.Errorf("%w: nil *big.Int", ErrUnencodable)
		}
		return appendBig(dst, v), nil
	case big.Int:
		return appendBig(dst, &v), nil
	case map[string]any:
		return e.stringMap(dst, v, depth)
	case []any:
		return e.list(dst, v, depth)
	case Tuple:
		return e.tuple(dst, v, depth)
	case Map:
		return e.pairs(dst, v, depth)
	case ImproperList:
		return e.improper(dst, v, depth)
	case BitBinary:
		if len(v.Data) == 0 || v.Bits < 1 || v.Bits > 8 || uint64(len(v.Data)) > math.MaxUint32 {
			return dst, fmt.Errorf("%w: BitBinary of %d bytes with %d bits", ErrUnencodable, len(v.Data), v.Bits)
		}
		dst = append(dst, tagBitBinary)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v.Data)))
		return append(append(dst, v.Bits), v.Data...), nil
	case Pid:
		dst = append(dst, tagNewPid)
		dst, err := e.atom(dst, v.Node)
		if err != nil {
			return dst, err
		}
		dst = binary.BigEndian.AppendUint32(dst, v.ID)
		dst = binary.BigEndian.AppendUint32(dst, v.Serial)
		return binary.BigEndian.AppendUint32(dst, v.Creation), nil
	case Ref:
		if len(v.ID) < 1 || len(v.ID) > maxRefWords {
			return dst, fmt.Errorf("%w: Ref with %d words", ErrUnencodable, len(v.ID))
		}
		dst = append(dst, tagNewerRef, 0, byte(len(v.ID)))
		dst, err := e.atom(dst, v.Node)
		if err != nil {
			return dst, err
		}
		dst = binary.BigEndian.AppendUint32(dst, v.Creation)
		for _, w := range v.ID {
			dst = binary.BigEndian.AppendUint32(dst, w)
		}
		return dst, nil
	}
	return e.reflectTerm(dst, reflect.ValueOf(v), depth)
}

// appendSpecial writes nil, true or false (ASCII atoms of under 256 bytes) as appendAtom does,
// without its checks.
func (e *Encoder) appendSpecial(dst []byte, a Atom) []byte {
	if e.LegacyAtoms {
		dst = append(dst, tagAtom, 0, byte(len(a)))
	} else {
		dst = append(dst, tagSmallAtomUTF8, byte(len(a)))
	}
	return append(dst, a...)
}

func (e *Encoder) enter(depth int) error {
	if depth >= e.maxDepth() {
		return fmt.Errorf("%w: deeper than %d", ErrTooDeep, e.maxDepth())
	}
	return nil
}

func appendBinary[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, tagBinary)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// appendInt writes v as Erlang does: SMALL_INTEGER_EXT, INTEGER_EXT, or the shortest SMALL_BIG_EXT.
func appendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 255:
		return append(dst, tagSmallInteger, byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		dst = append(dst, tagInteger)
		return binary.BigEndian.AppendUint32(dst, uint32(int32(v)))
	}
	sign, u := byte(0), uint64(v)
	if v < 0 {
		sign, u = 1, uint64(-v) // -MinInt64 wraps to itself, whose uint64 is the right magnitude
	}
	n := 0
	for x := u; x > 0; x >>= 8 {
		n++
	}
	dst = append(dst, tagSmallBig, byte(n), sign)
	for ; n > 0; n-- {
		dst = append(dst, byte(u))
		u >>= 8
	}
	return dst
}

func appendBig(dst []byte, v *big.Int) []byte {
	if v.IsInt64() {
		return appendInt(dst, v.Int64())
	}
	mag := v.Bytes() // big-endian magnitude
	n := len(mag)
	if n <= 255 {
		dst = append(dst, tagSmallBig, byte(n))
	} else {
		dst = append(dst, tagLargeBig)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	if v.Sign() < 0 {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, mag[i])
	}
	return dst
}

func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("%w: %v (Erlang floats are finite)", ErrUnencodable, f)
	}
	dst = append(dst, tagNewFloat)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(f)), nil
}

// list writes a proper list; a list of 1 to 65535 integers 0..255 as STRING_EXT, as Erlang does.
func (e *Encoder) list(dst []byte, l []any, depth int) ([]byte, error) {
	if len(l) == 0 {
		return append(dst, tagNil), nil
	}
	if len(l) <= math.MaxUint16 && byteList(l) {
		dst = append(dst, tagString, byte(len(l)>>8), byte(len(l)))
		for _, x := range l {
			b, _ := smallInt(x)
			dst = append(dst, b)
		}
		return dst, nil
	}
	if err := e.enter(depth); err != nil {
		return dst, err
	}
	dst = append(dst, tagList)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(l)))
	var err error
	for _, x := range l {
		if dst, err = e.appendTerm(dst, x, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, tagNil), nil
}

func byteList(l []any) bool {
	for _, x := range l {
		if _, ok := smallInt(x); !ok {
			return false
		}
	}
	return true
}

// smallInt reports whether x is an integer 0..255, and its value.
func smallInt(x any) (byte, bool) {
	var v int64
	switch x := x.(type) {
	case int64:
		v = x
	case int:
		v = int64(x)
	case int32:
		v = int64(x)
	case uint64:
		if x > 255 {
			return 0, false
		}
		v = int64(x)
	default:
		rv := reflect.ValueOf(x)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			v = rv.Int()
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			if rv.Uint() > 255 {
				return 0, false
			}
			v = int64(rv.Uint())
		default:
			return 0, false
		}
	}
	if v < 0 || v > 255 {
		return 0, false
	}
	return byte(v), true
}

func (e *Encoder) improper(dst []byte, l ImproperList, depth int) ([]byte, error) {
	if len(l.Elems) == 0 {
		return dst, fmt.Errorf("%w: ImproperList without elements", ErrUnencodable)
	}
	if tl, ok := l.Tail.([]any); ok || l.Tail == nil {
		// nil is the atom nil here, but a nil []any is []: refuse what would silently be a proper list
		if ok {
			return dst, fmt.Errorf("%w: ImproperList whose tail is a proper list (%d elements)", ErrUnencodable, len(tl))
		}
	}
	if err := e.enter(depth); err != nil {
		return dst, err
	}
	dst = append(dst, tagList)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(l.Elems)))
	var err error
	for _, x := range l.Elems {
		if dst, err = e.appendTerm(dst, x, depth+1); err != nil {
			return dst, err
		}
	}
	return e.appendTerm(dst, l.Tail, depth+1)
}

func (e *Encoder) tuple(dst []byte, t Tuple, depth int) ([]byte, error) {
	if err := e.enter(depth); err != nil {
		return dst, err
	}
	if len(t) <= 255 {
		dst = append(dst, tagSmallTuple, byte(len(t)))
	} else {
		dst = append(dst, tagLargeTuple)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(t)))
	}
	var err error
	for _, x := range t {
		if dst, err = e.appendTerm(dst, x, depth+1); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

type strPair struct {
	k   string
	v   any
	pre uint64 // prefix(k), for sortSmall
}

// prefix returns the first 8 bytes of s (padded with zeros) as a big-endian integer: when the
// prefixes of two strings differ, they are in the strings' byte order.
func prefix(s string) uint64 {
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(s) {
			p |= uint64(s[i])
		}
	}
	return p
}

// strPairs holds the sorted pairs of the maps being written that have more than smallMap keys.
var strPairs = sync.Pool{New: func() any { s := make([]strPair, 0, 64); return &s }}

// smallMap is the most keys a map may have for its pairs to be sorted on the stack.
const smallMap = 16

// stringMap writes a map with binary keys, in term order (byte order of the keys), as term_to_binary
// writes maps of up to 32 keys.
func (e *Encoder) stringMap(dst []byte, m map[string]any, depth int) ([]byte, error) {
	if err := e.enter(depth); err != nil {
		return dst, err
	}
	if len(m) <= smallMap {
		var arr [smallMap]strPair
		ps := arr[:0]
		for k, v := range m {
			ps = append(ps, strPair{k, v, prefix(k)})
		}
		sortSmall(ps)
		return e.sortedPairs(dst, ps, depth)
	}
	pp := strPairs.Get().(*[]strPair)
	ps := (*pp)[:0]
	for k, v := range m {
		ps = append(ps, strPair{k: k, v: v})
	}
	slices.SortFunc(ps, func(a, b strPair) int { return strings.Compare(a.k, b.k) })
	dst, err := e.sortedPairs(dst, ps, depth)
	clear(ps)
	*pp = ps[:0]
	if cap(ps) <= 1024 {
		strPairs.Put(pp)
	}
	return dst, err
}

// sortSmall sorts a few pairs by key: an insertion sort comparing the keys' prefixes, and the keys
// only when their prefixes are equal.
func sortSmall(ps []strPair) {
	for i := 1; i < len(ps); i++ {
		p := ps[i]
		j := i
		for ; j > 0 && less(&p, &ps[j-1]); j-- {
			ps[j] = ps[j-1]
		}
		ps[j] = p
	}
}

func less(a, b *strPair) bool {
	if a.pre != b.pre {
		return a.pre < b.pre
	}
	return a.k < b.k
}

// sortedPairs writes a map of sorted pairs.
func (e *Encoder) sortedPairs(dst []byte, ps []strPair, depth int) ([]byte, error) {
	dst = append(dst, tagMap)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(ps)))
	var err error
	for _, p := range ps {
		dst = appendBinary(dst, p.k)
		if dst, err = e.appendTerm(dst, p.v, depth+1); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// pairs writes a Map in its own order.
func (e *Encoder) pairs(dst []byte, m Map, depth int) ([]byte, error) {
	if err := e.enter(depth); err != nil {
		return dst, err
	}
	dst = append(dst, tagMap)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m)))
	var err error
	for _, p := range m {
		if dst, err = e.appendTerm(dst, p.Key, depth+1); err != nil {
			return dst, err
		}
		if dst, err = e.appendTerm(dst, p.Value, depth+1); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

var atomType = reflect.TypeFor[Atom]()

// reflectTerm writes the kinds the type switch of appendTerm does not name: other integer and float
// types, named strings and byte slices, slices and arrays, and maps keyed by strings or atoms.
func (e *Encoder) reflectTerm(dst []byte, rv reflect.Value, depth int) ([]byte, error) {
	switch rv.Kind() {
	case reflect.Bool:
		return e.appendTerm(dst, rv.Bool(), depth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return appendInt(dst, rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return e.appendTerm(dst, rv.Uint(), depth)
	case reflect.Float32, reflect.Float64:
		return appendFloat(dst, rv.Float())
	case reflect.String:
		return appendBinary(dst, rv.String()), nil
	case reflect.Slice, reflect.Array, reflect.Struct:
		return e.encodeValue(dst, codecFor(rv.Type()), rv, depth)
	case reflect.Map:
		return e.reflectMap(dst, rv, depth)
	case reflect.Pointer:
		if !rv.IsNil() {
			return e.encodeValue(dst, codecFor(rv.Type()), rv, depth)
		}
	}
	if !rv.IsValid() {
		return appendAtom(dst, "nil", e.LegacyAtoms)
	}
	return dst, fmt.Errorf("%w: Go type %s", ErrUnencodable, rv.Type())
}

// reflectMap writes a map keyed by strings (as binaries) or atoms, in term order; other keys are
// refused. A nil map is %{}.
func (e *Encoder) reflectMap(dst []byte, rv reflect.Value, depth int) ([]byte, error) {
	kt := rv.Type().Key()
	if kt.Kind() != reflect.String {
		return dst, fmt.Errorf("%w: Go type %s (map keys must be strings or atoms)", ErrUnencodable, rv.Type())
	}
	if err := e.enter(depth); err != nil {
		return dst, err
	}
	keys := rv.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	dst = append(dst, tagMap)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(keys)))
	var err error
	for _, k := range keys {
		if kt == atomType {
			dst, err = e.atom(dst, Atom(k.String()))
		} else {
			dst = appendBinary(dst, k.String())
		}
		if err != nil {
			return dst, err
		}
		if dst, err = e.appendTerm(dst, rv.MapIndex(k).Interface(), depth+1); err != nil {
			return dst, err
		}
	}
	return dst, nil
}
