package etf

import (
	"encoding/binary"
	"math"
)

// skip reads the term that comes next and checks it as term does (the same limits, the same errors),
// without building its value: for the parts of a term Unmarshal ignores or keeps as RawTerm. Only
// pids, references, bignums of more than 8 bytes, FLOAT_EXT and maps with keys other than binaries,
// atoms and small integers (or of more than maxSkipKeys pairs) are read with term, which allocates.
func (d *decoder) skip() error {
	at := d.off
	tag, err := d.u8()
	if err != nil {
		return err
	}
	switch tag {
	case tagSmallInteger:
		_, err = d.bytes(1)
	case tagInteger:
		_, err = d.bytes(4)
	case tagSmallBig, tagLargeBig, tagFloat, tagNewPid, tagPid, tagNewerRef, tagNewRef:
		d.off = at
		_, err = d.term()
	case tagNewFloat:
		var b []byte
		if b, err = d.bytes(8); err == nil {
			if f := math.Float64frombits(binary.BigEndian.Uint64(b)); math.IsNaN(f) || math.IsInf(f, 0) {
				err = d.errf(ErrMalformed, "non-finite float")
			}
		}
	case tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF8:
		_, _, err = d.atomBytes(tag)
	case tagBinary:
		var n int
		if n, err = d.count(1); err == nil {
			_, err = d.bytes(n)
		}
	case tagBitBinary:
		d.off = at
		_, err = d.term() // allocates a copy of the bits: rare enough
	case tagNil:
	case tagString:
		var n int
		if n, err = d.u16(); err == nil {
			_, err = d.bytes(n)
		}
	case tagList:
		err = d.skipList()
	case tagSmallTuple, tagLargeTuple:
		var n int
		if tag == tagSmallTuple {
			var c byte
			c, err = d.u8()
			n = int(c)
		} else {
			n, err = d.count(1)
		}
		if err != nil {
			return err
		}
		if n > d.left() {
			return d.errf(ErrTruncated, "tuple of %d elements, %d bytes left", n, d.left())
		}
		if err := d.enter(); err != nil {
			return err
		}
		for range n {
			if err := d.skip(); err != nil {
				return err
			}
		}
		d.depth--
	case tagMap:
		err = d.skipMap(at)
	case tagCompressed:
		err = d.errf(ErrMalformed, "a compressed term inside a term")
	default:
		d.off = at + 1
		err = d.errf(ErrUnsupported, "tag %d", tag)
	}
	return err
}

// skipList is skip for LIST_EXT (its tag read), with list's checks in list's order.
func (d *decoder) skipList() error {
	n, err := d.count(1)
	if err != nil {
		return err
	}
	if n+1 > d.left() {
		return d.errf(ErrTruncated, "list of %d elements, %d bytes left", n, d.left())
	}
	if err := d.enter(); err != nil {
		return err
	}
	for range n {
		if err := d.skip(); err != nil {
			return err
		}
	}
	if d.off < len(d.b) && d.b[d.off] == tagNil {
		d.off++
		d.depth--
		return nil
	}
	if err := d.skip(); err != nil { // the tail
		return err
	}
	d.depth--
	if n == 0 {
		return d.errf(ErrMalformed, "improper list without elements")
	}
	return nil
}

// maxSkipKeys is the most pairs a map skip checks for duplicate keys itself; larger maps are read by
// term, which checks them with a hash set.
const maxSkipKeys = 32

// keyPrint is what tells the keys of a map apart without decoding them: their kind ('b' binary, 'a'
// atom, 'i' integer) and text (from, to in the term) or value.
type keyPrint struct {
	kind     byte
	from, to int
	i        int64
}

// skipMap is skip for MAP_EXT whose tag is at offset at. A map it cannot check for duplicate keys
// itself (see maxSkipKeys and keyPrint) is read again from at by term.
func (d *decoder) skipMap(at int) error {
	n, err := d.count(2)
	if err != nil {
		return err
	}
	if err := d.enter(); err != nil {
		return err
	}
	atoms := d.atoms
	again := func() error { // term reads it, from its tag
		d.off, d.atoms = at, atoms
		d.depth--
		_, err := d.term()
		return err
	}
	if n > maxSkipKeys {
		return again()
	}
	var printsArr [maxSkipKeys]keyPrint
	prints := printsArr[:0]
	for range n {
		kp, ok, err := d.skipKey()
		if err != nil {
			return err
		}
		if !ok {
			return again()
		}
		prints = append(prints, kp)
		if err := d.skip(); err != nil {
			return err
		}
	}
	for i, kp := range prints { // after every pair, as term checks
		for _, p := range prints[:i] {
			if p.kind == kp.kind && p.i == kp.i && string(d.b[p.from:p.to]) == string(d.b[kp.from:kp.to]) {
				return d.errf(ErrDuplicateKey, "in a map of %d pairs", n)
			}
		}
	}
	d.depth--
	return nil
}

// skipKey reads a map key that is a binary, an atom in UTF-8 or in ASCII latin-1, or an integer that
// fits INTEGER_EXT, and returns its keyPrint; for any other key it reads nothing and returns false.
func (d *decoder) skipKey() (keyPrint, bool, error) {
	if err := d.need(1); err != nil {
		return keyPrint{}, false, err
	}
	at := d.off
	switch tag := d.b[at]; tag {
	case tagBinary:
		d.off++
		n, err := d.count(1)
		if err != nil {
			return keyPrint{}, false, err
		}
		if _, err := d.bytes(n); err != nil {
			return keyPrint{}, false, err
		}
		return keyPrint{kind: 'b', from: d.off - n, to: d.off}, true, nil
	case tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF8:
		d.off++
		b, latin, err := d.atomBytes(tag)
		if err != nil {
			return keyPrint{}, false, err
		}
		if latin {
			for _, c := range b {
				if c >= 0x80 { // the same atom as a UTF-8 one of other bytes: let term compare them
					d.off = at
					d.atoms--
					return keyPrint{}, false, nil
				}
			}
		}
		return keyPrint{kind: 'a', from: d.off - len(b), to: d.off}, true, nil
	case tagSmallInteger:
		if d.left() < 2 {
			return keyPrint{}, false, d.need(2)
		}
		d.off += 2
		return keyPrint{kind: 'i', i: int64(d.b[at+1])}, true, nil
	case tagInteger:
		if d.left() < 5 {
			return keyPrint{}, false, d.need(5)
		}
		d.off += 5
		return keyPrint{kind: 'i', i: int64(int32(binary.BigEndian.Uint32(d.b[at+1:])))}, true, nil
	}
	return keyPrint{}, false, nil
}
