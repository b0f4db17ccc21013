package etf

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strconv"
)

// UnmarshalTypeError is Unmarshal's error for a well-formed term that does not fit the Go value it is
// to be stored in: a binary for an int field, an integer too large for an int8, a list for a struct.
type UnmarshalTypeError struct {
	// Term describes the term found: "binary", "integer 300", "atom :ok", "list", "map", ...
	Term string
	// Type is the Go type it could not be stored in.
	Type reflect.Type
	// Field is the path of the struct field from the value Unmarshal was given ("meta.v"), "" when the
	// term was not in a struct field.
	Field string
	// Offset is where the term starts in the (inflated) term, after the version byte.
	Offset int
}

func (e *UnmarshalTypeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("etf: cannot unmarshal %s into field %s of Go type %s (at byte %d)", e.Term, e.Field, e.Type, e.Offset)
	}
	return fmt.Sprintf("etf: cannot unmarshal %s into Go value of type %s (at byte %d)", e.Term, e.Type, e.Offset)
}

// inField prefixes the field path of err, when it is an *UnmarshalTypeError, with name.
func inField(err error, name string) error {
	if te, ok := err.(*UnmarshalTypeError); ok {
		if te.Field == "" {
			te.Field = name
		} else {
			te.Field = name + "." + te.Field
		}
	}
	return err
}

// typeError is the *UnmarshalTypeError of the term at offset at (already checked to be well formed
// as far as its tag and its length fields) for type t.
func (d *decoder) typeError(at int, t reflect.Type) error {
	return &UnmarshalTypeError{Term: describe(d.b[at:]), Type: t, Offset: at}
}

// describe names the term b starts with, for an error message.
func describe(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case tagSmallInteger:
		if len(b) > 1 {
			return "integer " + strconv.Itoa(int(b[1]))
		}
	case tagInteger:
		if len(b) > 4 {
			return "integer " + strconv.Itoa(int(int32(binary.BigEndian.Uint32(b[1:]))))
		}
	case tagSmallBig, tagLargeBig:
		return "integer"
	case tagNewFloat, tagFloat:
		return "float"
	case tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF8:
		n, off := 0, 2
		switch {
		case (b[0] == tagSmallAtom || b[0] == tagSmallAtomUTF8) && len(b) > 1:
			n = int(b[1])
		case len(b) > 2:
			n, off = int(b[1])<<8|int(b[2]), 3
		}
		if off+n <= len(b) {
			q := strconv.Quote(string(b[off : off+n]))
			return "atom :" + q[1:len(q)-1]
		}
		return "atom"
	case tagBinary:
		return "binary"
	case tagBitBinary:
		return "bitstring"
	case tagNil, tagString, tagList:
		return "list"
	case tagSmallTuple, tagLargeTuple:
		return "tuple"
	case tagMap:
		return "map"
	case tagNewPid, tagPid:
		return "pid"
	case tagNewerRef, tagNewRef:
		return "reference"
	}
	return "term with tag " + strconv.Itoa(int(b[0]))
}
