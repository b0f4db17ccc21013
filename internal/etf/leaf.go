package etf

import (
	"encoding/binary"
	"math"
	"reflect"
	"unsafe"
)

// The scalar fields of a struct (strings, integers, floats, bools: nearly every field of a typical
// payload) are read and written through their addresses, not through reflect.Value: the common
// terms for them are decoded here, anything else (nil, a bignum, a term that does not fit) falls back
// to decoder.value, which has the errors.

// decodeLeaf decodes the next term into the scalar of codec c at p when it is one of the common forms
// for it, and reports whether it did (false: nothing was read).
func (d *decoder) decodeLeaf(c *codec, p unsafe.Pointer) (bool, error) {
	if d.off >= len(d.b) {
		return false, nil
	}
	tag := d.b[d.off]
	switch c.kind {
	case kString:
		if tag != tagBinary || c.rkind != reflect.String {
			return false, nil
		}
		d.off++
		n, err := d.count(1)
		if err != nil {
			return true, err
		}
		s, err := d.binary(n)
		if err != nil {
			return true, err
		}
		*(*string)(p) = s
		return true, nil
	case kInt, kUint:
		var x int64
		switch tag {
		case tagSmallInteger:
			if d.left() < 2 {
				return false, nil
			}
			x = int64(d.b[d.off+1])
			if !storeInt(c.rkind, p, x) {
				return false, nil
			}
			d.off += 2
		case tagInteger:
			if d.left() < 5 {
				return false, nil
			}
			x = int64(int32(binary.BigEndian.Uint32(d.b[d.off+1:])))
			if !storeInt(c.rkind, p, x) {
				return false, nil
			}
			d.off += 5
		default:
			return false, nil
		}
		return true, nil
	case kFloat:
		if tag != tagNewFloat || d.left() < 9 {
			return false, nil
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(d.b[d.off+1:]))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false, nil
		}
		switch c.rkind {
		case reflect.Float64:
			*(*float64)(p) = f
		case reflect.Float32:
			if f > math.MaxFloat32 || f < -math.MaxFloat32 {
				return false, nil
			}
			*(*float32)(p) = float32(f)
		}
		d.off += 9
		return true, nil
	case kBool:
		var v bool
		switch {
		case d.next("\x77\x04true"):
			v = true
		case d.next("\x77\x05false"):
		default:
			return false, nil
		}
		d.atoms++
		if d.atoms > d.lim.MaxAtoms {
			return true, d.errf(ErrTooManyAtoms, "more than %d", d.lim.MaxAtoms)
		}
		*(*bool)(p) = v
		return true, nil
	}
	return false, nil
}

// next consumes the bytes s when they come next.
func (d *decoder) next(s string) bool {
	if len(d.b)-d.off >= len(s) && string(d.b[d.off:d.off+len(s)]) == s {
		d.off += len(s)
		return true
	}
	return false
}

// storeInt stores x in the integer of kind k at p, and reports whether it fits.
func storeInt(k reflect.Kind, p unsafe.Pointer, x int64) bool {
	switch k {
	case reflect.Int64:
		*(*int64)(p) = x
	case reflect.Int:
		*(*int)(p) = int(x)
	case reflect.Int32:
		*(*int32)(p) = int32(x)
	case reflect.Uint64, reflect.Uint, reflect.Uintptr, reflect.Uint32:
		if x < 0 {
			return false
		}
		switch k {
		case reflect.Uint64:
			*(*uint64)(p) = uint64(x)
		case reflect.Uint:
			*(*uint)(p) = uint(x)
		case reflect.Uintptr:
			*(*uintptr)(p) = uintptr(x)
		default:
			*(*uint32)(p) = uint32(x)
		}
	default: // 8- and 16-bit integers: decoder.value checks their range
		return false
	}
	return true
}

// encodeLeaf writes the scalar of codec c at p, and reports whether it did (false for other kinds).
func (e *Encoder) encodeLeaf(dst []byte, c *codec, p unsafe.Pointer) ([]byte, bool, error) {
	switch c.kind {
	case kString:
		if c.rkind == reflect.String {
			return appendBinary(dst, *(*string)(p)), true, nil
		}
	case kInt:
		switch c.rkind {
		case reflect.Int64:
			return appendInt(dst, *(*int64)(p)), true, nil
		case reflect.Int:
			return appendInt(dst, int64(*(*int)(p))), true, nil
		case reflect.Int32:
			return appendInt(dst, int64(*(*int32)(p))), true, nil
		}
	case kFloat:
		if c.rkind == reflect.Float64 {
			dst, err := appendFloat(dst, *(*float64)(p))
			return dst, true, err
		}
	case kBool:
		if *(*bool)(p) {
			return e.appendSpecial(dst, atomTrue), true, nil
		}
		return e.appendSpecial(dst, atomFalse), true, nil
	}
	return dst, false, nil
}
