// Package etf is a codec for the subset of Erlang's external term format (ETF, the bytes of
// term_to_binary/2) that Phoenix applications put on the wire: integers (small, 32-bit, bignums),
// floats, atoms (every encoding OTP 25 and OTP 26+ emit), binaries, bit binaries, proper and improper
// lists and byte lists, tuples, maps, pids and references (opaque values), and zlib-compressed terms.
//
// # Safety
//
// Decode reads bytes from the network and is built for hostile input. Every declared length or count is
// checked against the bytes left before anything is allocated for it; nesting is bounded by
// Limits.MaxDepth, the inflated size of a compressed term and the size of a plain one by Limits.MaxSize,
// the number of atoms in a term by Limits.MaxAtoms, and an atom's length by Erlang's own limit of 255
// characters. Duplicate map keys, trailing bytes, non-finite floats, invalid UTF-8 in UTF-8 atoms and
// tags outside the subset are errors. Decoding never creates anything global: atoms come back as Atom
// values (strings), not as entries in a table.
//
// Encoding is deterministic: maps with binary or atom keys are written in Erlang's term order (which is
// what term_to_binary does for maps of up to 32 keys), integers in the smallest encoding Erlang uses
// (SMALL_INTEGER_EXT, INTEGER_EXT, SMALL_BIG_EXT, LARGE_BIG_EXT), proper lists of bytes as STRING_EXT.
// Encoder.AllowAtom bounds the atoms a term may carry: every atom a receiving BEAM decodes is created
// there forever, so a program must never turn user input into atoms.
//
// # Go values
//
//	Erlang                      decoded as                 encoded from
//	integer                     int64, or *big.Int         any Go integer type, *big.Int, big.Int
//	float                       float64                    float32, float64 (finite only)
//	nil, true, false            nil, true, false           nil, bool
//	other atom                  Atom                       Atom (when AllowAtom allows it)
//	binary                      string                     string, []byte (and named kinds of both)
//	bit binary                  BitBinary                  BitBinary
//	proper list ([] included)   []any                      []any and any other slice or array
//	improper list               ImproperList               ImproperList
//	tuple                       Tuple                      Tuple
//	map, all keys binaries      map[string]any             map[string]V for any V
//	other map                   Map (pairs in wire order)  Map, map[Atom]V
//	pid, reference              Pid, Ref                   Pid, Ref
//	map with binary keys        (Unmarshal: a struct)      a struct, a pointer to one
//
// Decode returns these values; Unmarshal decodes straight into the Go value a program names (a
// struct, slices, maps, strings, numbers: see UnmarshalWith), with per-type codecs built once and
// cached, and Marshal writes structs as maps with binary keys. RawTerm keeps a term checked but
// undecoded, to decode later.
//
// Decode, Unmarshal and Marshal are safe for concurrent use; an Encoder is safe for concurrent use
// once configured.
package etf
