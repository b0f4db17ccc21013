package etf

import "errors"

// Errors of Decode and Encoder.Append. Decode's errors wrap one of the first group and say where the
// input went wrong.
var (
	// ErrVersion: the input does not start with the version byte 131.
	ErrVersion = errors.New("etf: not an external term (bad version byte)")
	// ErrTruncated: the input ends inside a term, or declares more elements or bytes than are left.
	ErrTruncated = errors.New("etf: truncated term")
	// ErrTrailing: bytes follow the term.
	ErrTrailing = errors.New("etf: trailing bytes after the term")
	// ErrTooDeep: the term nests deeper than Limits.MaxDepth.
	ErrTooDeep = errors.New("etf: term nested too deeply")
	// ErrTooLarge: the term (inflated, when compressed) is larger than Limits.MaxSize.
	ErrTooLarge = errors.New("etf: term too large")
	// ErrTooManyAtoms: the term has more atoms than Limits.MaxAtoms.
	ErrTooManyAtoms = errors.New("etf: too many atoms")
	// ErrBadAtom: an atom longer than 255 characters, or a UTF-8 atom that is not valid UTF-8.
	ErrBadAtom = errors.New("etf: bad atom")
	// ErrDuplicateKey: a map has the same key twice.
	ErrDuplicateKey = errors.New("etf: duplicate map key")
	// ErrUnsupported: a tag outside the subset this package reads (funs, ports, distribution headers).
	ErrUnsupported = errors.New("etf: unsupported term")
	// ErrMalformed: any other malformed input (a bad compressed stream, a non-finite float, a bit
	// binary with a bad bit count, a bad reference length).
	ErrMalformed = errors.New("etf: malformed term")

	// ErrAtomNotAllowed: Encoder.AllowAtom refused an atom of the value.
	ErrAtomNotAllowed = errors.New("etf: atom not allowed")
	// ErrUnencodable: the Go value has no Erlang counterpart (a channel, a function, a NaN...).
	ErrUnencodable = errors.New("etf: value cannot be encoded")
)
