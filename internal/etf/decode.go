package etf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Decode decodes one external term (starting with the version byte 131, possibly compressed) with
// the limits lim, and rejects trailing bytes. See the package documentation for the Go values it
// returns. Errors wrap one of ErrVersion, ErrTruncated, ErrTrailing, ErrTooDeep, ErrTooLarge,
// ErrTooManyAtoms, ErrBadAtom, ErrDuplicateKey, ErrUnsupported or ErrMalformed.
func Decode(b []byte, lim Limits) (any, error) {
	return decode(b, "", lim)
}

// DecodeString is Decode for a term held in a string (as go-redis hands over a message's payload). The
// binaries of a term of up to ShareLimit bytes share its memory instead of being copied: a value kept
// from such a term keeps those bytes alive.
func DecodeString(s string, lim Limits) (any, error) {
	return decode(unsafe.Slice(unsafe.StringData(s), len(s)), s, lim)
}

// ShareLimit is the size up to which the binaries of a term are substrings of one copy of the whole
// term (one allocation instead of one per binary); a value kept from it keeps at most that many bytes
// alive (and the 192-byte slab its box was carved from, see box.go). Larger terms copy each binary.
const ShareLimit = 4096

func decode(b []byte, s string, lim Limits) (any, error) {
	d, release, err := open(b, s, lim)
	if err != nil {
		return nil, err
	}
	if release != nil {
		defer release()
	}
	if len(d.b) <= ShareLimit && d.str == "" {
		d.str = string(d.b)
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

// open checks the size and the version byte of the term b (held in s too when s is not ""), and
// returns the decoder of its body, inflated when it is compressed (release, when not nil, then
// returns the buffer after use). The decoder's str is s's body when the term was not compressed and
// is at most ShareLimit bytes long, "" otherwise.
func open(b []byte, s string, lim Limits) (decoder, func(), error) {
	lim = lim.withDefaults()
	if len(b) > lim.MaxSize {
		return decoder{}, nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(b), lim.MaxSize)
	}
	if len(b) == 0 || b[0] != version {
		return decoder{}, nil, ErrVersion
	}
	body := b[1:]
	if s != "" {
		s = s[1:]
	}
	var release func()
	if len(body) > 0 && body[0] == tagCompressed {
		inflated, rel, err := inflate(body[1:], lim.MaxSize)
		if err != nil {
			return decoder{}, nil, err
		}
		body, s, release = inflated, "", rel
	}
	if len(body) > ShareLimit {
		s = ""
	}
	return decoder{b: body, str: s, lim: lim}, release, nil
}

// end checks that the term read was the whole input.
func (d *decoder) end() error {
	if d.off != len(d.b) {
		return fmt.Errorf("%w: %d bytes after the term", ErrTrailing, len(d.b)-d.off)
	}
	return nil
}

type decoder struct {
	b     []byte
	str   string // b as a string when binaries share it ("" otherwise)
	share bool   // make str from b when a binary first needs it (Unmarshal)
	spent uint64 // what Unmarshal allocated for slice elements, map entries and pointers (see charge)
	off   int
	depth int
	atoms int
	lim   Limits
	slabs slabs // see box.go
}

// binary returns n bytes as a string: a substring of d.str, or a copy.
func (d *decoder) binary(n int) (string, error) {
	if err := d.need(n); err != nil {
		return "", err
	}
	if d.share && d.str == "" {
		d.str = string(d.b)
	}
	var s string
	if d.str != "" {
		s = d.str[d.off : d.off+n]
	} else {
		s = string(d.b[d.off : d.off+n])
	}
	d.off += n
	return s, nil
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) errf(err error, format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", err, d.off, fmt.Sprintf(format, args...))
}

// need checks that n more bytes are there, before anything is read or allocated for them.
func (d *decoder) need(n int) error {
	if n < 0 || n > d.left() {
		return d.errf(ErrTruncated, "%d bytes needed, %d left", n, d.left())
	}
	return nil
}

func (d *decoder) u8() (byte, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	v := d.b[d.off]
	d.off++
	return v, nil
}

func (d *decoder) u16() (int, error) {
	if err := d.need(2); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint16(d.b[d.off:])
	d.off += 2
	return int(v), nil
}

func (d *decoder) u32() (uint32, error) {
	if err := d.need(4); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v, nil
}

// count reads a u32 count of items, each at least per bytes long, and checks that they can fit.
func (d *decoder) count(per int) (int, error) {
	n, err := d.u32()
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(per) > uint64(d.left()) {
		return 0, d.errf(ErrTruncated, "%d items declared, %d bytes left", n, d.left())
	}
	return int(n), nil
}

func (d *decoder) bytes(n int) ([]byte, error) {
	if err := d.need(n); err != nil {
		return nil, err
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v, nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > d.lim.MaxDepth {
		return d.errf(ErrTooDeep, "deeper than %d", d.lim.MaxDepth)
	}
	return nil
}

func (d *decoder) term() (any, error) {
	tag, err := d.u8()
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagSmallInteger:
		v, err := d.u8()
		return int64(v), err
	case tagInteger:
		v, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.boxInt(int64(int32(v))), nil
	case tagSmallBig:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.big(int(n))
	case tagLargeBig:
		n, err := d.count(1)
		if err != nil {
			return nil, err
		}
		return d.big(n)
	case tagNewFloat:
		b, err := d.bytes(8)
		if err != nil {
			return nil, err
		}
		return d.float(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case tagFloat:
		return d.oldFloat()
	case tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF8:
		a, err := d.atomBody(tag)
		if err != nil {
			return nil, err
		}
		switch a {
		case atomNil:
			return nil, nil
		case atomTrue:
			return true, nil
		case atomFalse:
			return false, nil
		}
		return a, nil
	case tagBinary:
		n, err := d.count(1)
		if err != nil {
			return nil, err
		}
		s, err := d.binary(n)
		if err != nil {
			return nil, err
		}
		return d.boxString(s), nil
	case tagBitBinary:
		return d.bitBinary()
	case tagNil:
		return emptyList, nil
	case tagString:
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		b, err := d.bytes(n)
		if err != nil {
			return nil, err
		}
		l, boxed := newElems(n, listType)
		for i, c := range b {
			l[i] = int64(c)
		}
		if boxed != nil {
			return boxed, nil
		}
		return l, nil
	case tagList:
		return d.list()
	case tagSmallTuple:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.tuple(int(n))
	case tagLargeTuple:
		n, err := d.count(1)
		if err != nil {
			return nil, err
		}
		return d.tuple(n)
	case tagMap:
		return d.mapTerm()
	case tagNewPid, tagPid:
		return d.pid(tag)
	case tagNewerRef, tagNewRef:
		return d.ref(tag)
	case tagCompressed:
		return nil, d.errf(ErrMalformed, "a compressed term inside a term")
	}
	return nil, d.errf(ErrUnsupported, "tag %d", tag)
}

func (d *decoder) float(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, d.errf(ErrMalformed, "non-finite float")
	}
	return d.boxFloat(f), nil
}

// oldFloat reads FLOAT_EXT: a float printed with "%.20e" in 31 bytes, padded with NULs.
func (d *decoder) oldFloat() (any, error) {
	b, err := d.bytes(31)
	if err != nil {
		return nil, err
	}
	n := 0
	for n < len(b) && b[n] != 0 {
		n++
	}
	f, perr := strconv.ParseFloat(string(b[:n]), 64)
	if perr != nil {
		return nil, d.errf(ErrMalformed, "FLOAT_EXT %q", b[:n])
	}
	return d.float(f)
}

func (d *decoder) big(n int) (any, error) {
	sign, err := d.u8()
	if err != nil {
		return nil, err
	}
	if sign > 1 {
		return nil, d.errf(ErrMalformed, "bignum sign %d", sign)
	}
	if n > maxBigBytes {
		return nil, d.errf(ErrTooLarge, "bignum of %d bytes", n)
	}
	mag, err := d.bytes(n)
	if err != nil {
		return nil, err
	}
	if n <= 8 {
		var u uint64
		for i := n - 1; i >= 0; i-- {
			u = u<<8 | uint64(mag[i])
		}
		switch {
		case sign == 0 && u <= math.MaxInt64:
			return d.boxInt(int64(u)), nil
		case sign == 1 && u <= 1<<63:
			return d.boxInt(-int64(u)), nil // -(1<<63) wraps to itself: math.MinInt64
		}
	}
	be := make([]byte, n)
	for i, c := range mag {
		be[n-1-i] = c
	}
	v := new(big.Int).SetBytes(be)
	if sign == 1 {
		v.Neg(v)
	}
	return v, nil
}

// atomBody reads the length and text of an atom whose tag was read.
func (d *decoder) atomBody(tag byte) (Atom, error) {
	b, latin, err := d.atomBytes(tag)
	if err != nil {
		return "", err
	}
	if latin {
		return latin1Atom(b), nil
	}
	return internAtom(b), nil
}

// atomBytes reads the length and text of an atom whose tag was read, counts it and checks it: its
// text, in latin-1 when latin is true (ATOM_EXT and SMALL_ATOM_EXT), in UTF-8 otherwise.
func (d *decoder) atomBytes(tag byte) (b []byte, latin bool, err error) {
	d.atoms++
	if d.atoms > d.lim.MaxAtoms {
		return nil, false, d.errf(ErrTooManyAtoms, "more than %d", d.lim.MaxAtoms)
	}
	var n int
	if tag == tagSmallAtom || tag == tagSmallAtomUTF8 {
		var c byte
		c, err = d.u8()
		n = int(c)
	} else {
		n, err = d.u16()
	}
	if err != nil {
		return nil, false, err
	}
	if b, err = d.bytes(n); err != nil {
		return nil, false, err
	}
	if tag == tagAtom || tag == tagSmallAtom {
		if n > maxAtomChars {
			return nil, false, d.errf(ErrBadAtom, "latin-1 atom of %d characters", n)
		}
		return b, true, nil
	}
	if !utf8.Valid(b) {
		return nil, false, d.errf(ErrBadAtom, "UTF-8 atom is not valid UTF-8")
	}
	if n > maxAtomChars && utf8.RuneCount(b) > maxAtomChars {
		return nil, false, d.errf(ErrBadAtom, "atom of %d characters", utf8.RuneCount(b))
	}
	return b, false, nil
}

// atom reads a whole atom (tag included), as the node of a pid or reference.
func (d *decoder) atom() (Atom, error) {
	tag, err := d.u8()
	if err != nil {
		return "", err
	}
	switch tag {
	case tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF8:
		return d.atomBody(tag)
	}
	return "", d.errf(ErrMalformed, "tag %d where an atom must be", tag)
}

func (d *decoder) bitBinary() (any, error) {
	n, err := d.count(1)
	if err != nil {
		return nil, err
	}
	bits, err := d.u8()
	if err != nil {
		return nil, err
	}
	if n == 0 || bits < 1 || bits > 8 {
		return nil, d.errf(ErrMalformed, "bit binary of %d bytes with %d bits in the last", n, bits)
	}
	b, err := d.bytes(n)
	if err != nil {
		return nil, err
	}
	return BitBinary{Data: append([]byte(nil), b...), Bits: bits}, nil
}

func (d *decoder) list() (any, error) {
	n, err := d.count(1)
	if err != nil {
		return nil, err
	}
	if n+1 > d.left() { // the tail takes a byte too
		return nil, d.errf(ErrTruncated, "list of %d elements, %d bytes left", n, d.left())
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	elems, boxed := newElems(n, listType)
	for i := range elems {
		if elems[i], err = d.term(); err != nil {
			return nil, err
		}
	}
	if d.off < len(d.b) && d.b[d.off] == tagNil {
		d.off++
		d.depth--
		if n == 0 { // LIST_EXT with no elements: [] written the long way
			return emptyList, nil
		}
		if boxed != nil {
			return boxed, nil
		}
		return elems, nil
	}
	tail, err := d.term()
	if err != nil {
		return nil, err
	}
	d.depth--
	if n == 0 {
		return nil, d.errf(ErrMalformed, "improper list without elements")
	}
	switch t := tail.(type) {
	case []any:
		// [a | [b, c]] written as an improper list is the proper list [a, b, c].
		return append(elems, t...), nil
	case ImproperList:
		return ImproperList{Elems: append(elems, t.Elems...), Tail: t.Tail}, nil
	}
	return ImproperList{Elems: elems, Tail: tail}, nil
}

// emptyList is [], boxed once: with no room for an element, it can be shared.
var emptyList any = []any{}

func (d *decoder) tuple(n int) (any, error) {
	if n > d.left() {
		return nil, d.errf(ErrTruncated, "tuple of %d elements, %d bytes left", n, d.left())
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	elems, boxed := newElems(n, tupleType)
	var err error
	for i := range elems {
		if elems[i], err = d.term(); err != nil {
			return nil, err
		}
	}
	d.depth--
	if boxed != nil {
		return boxed, nil
	}
	return Tuple(elems), nil
}

func (d *decoder) mapTerm() (any, error) {
	n, err := d.count(2)
	if err != nil {
		return nil, err
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	var v any
	if n == 0 || d.binaryNext() {
		v, err = d.stringMap(n)
	} else {
		v, err = d.pairs(make(Map, n), 0)
	}
	if err != nil {
		return nil, err
	}
	d.depth--
	return v, nil
}

// maxMapHint bounds the size a map[string]any is made with before its pairs are read, so that a count
// (checked only against the bytes left) cannot reserve much more than the bytes hold.
const maxMapHint = 64

// binaryNext reports whether a binary comes next.
func (d *decoder) binaryNext() bool { return d.off < len(d.b) && d.b[d.off] == tagBinary }

// stringMap reads the n pairs of a map whose first key is a binary: straight into a map[string]any,
// until a key of another type makes it a Map (in wire order, so the keys read so far are kept).
func (d *decoder) stringMap(n int) (any, error) {
	m := make(map[string]any, min(n, maxMapHint))
	// where the keys are (the offsets of their BINARY_EXT tags), in wire order: what the map needs to
	// become a Map when a key of another type comes
	var local [16]int
	keys := local[:0]
	for i := 0; i < n; i++ {
		if !d.binaryNext() {
			out := make(Map, n)
			for j, at := range keys {
				k := d.keyAt(at)
				out[j] = Pair{d.boxString(k), m[k]} // duplicate keys fail in pairs
			}
			return d.pairs(out, i)
		}
		keys = append(keys, d.off)
		d.off++
		kn, err := d.count(1)
		if err != nil {
			return nil, err
		}
		k, err := d.binary(kn)
		if err != nil {
			return nil, err
		}
		v, err := d.term()
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	if len(m) != n {
		return nil, d.errf(ErrDuplicateKey, "a map of %d pairs has %d distinct binary keys", n, len(m))
	}
	return m, nil
}

// keyAt returns the binary at offset at, which was read before.
func (d *decoder) keyAt(at int) string {
	n := int(binary.BigEndian.Uint32(d.b[at+1:]))
	at += 5
	if d.str != "" {
		return d.str[at : at+n]
	}
	return string(d.b[at : at+n])
}

// pairs reads the pairs of out from its i-th on, and checks that its keys are distinct.
func (d *decoder) pairs(out Map, i int) (any, error) {
	var err error
	for ; i < len(out); i++ {
		p := &out[i]
		if p.Key, err = d.term(); err != nil {
			return nil, err
		}
		if p.Value, err = d.term(); err != nil {
			return nil, err
		}
	}
	if err := checkDuplicates(out); err != nil {
		return nil, d.errf(err, "in a map of %d pairs", len(out))
	}
	return out, nil
}

func (d *decoder) pid(tag byte) (any, error) {
	node, err := d.atom()
	if err != nil {
		return nil, err
	}
	id, err := d.u32()
	if err != nil {
		return nil, err
	}
	serial, err := d.u32()
	if err != nil {
		return nil, err
	}
	creation, err := d.creation(tag == tagNewPid)
	if err != nil {
		return nil, err
	}
	return Pid{Node: node, ID: id, Serial: serial, Creation: creation}, nil
}

// creation reads a pid's or a reference's creation: 4 bytes in the newer encodings (wide), 1 before.
func (d *decoder) creation(wide bool) (uint32, error) {
	if wide {
		return d.u32()
	}
	c, err := d.u8()
	return uint32(c), err
}

func (d *decoder) ref(tag byte) (any, error) {
	n, err := d.u16()
	if err != nil {
		return nil, err
	}
	if n < 1 || n > maxRefWords {
		return nil, d.errf(ErrMalformed, "reference of %d words", n)
	}
	node, err := d.atom()
	if err != nil {
		return nil, err
	}
	creation, err := d.creation(tag == tagNewerRef)
	if err != nil {
		return nil, err
	}
	b, err := d.bytes(4 * n)
	if err != nil {
		return nil, err
	}
	id := make([]uint32, n)
	for i := range id {
		id[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return Ref{Node: node, Creation: creation, ID: id}, nil
}
