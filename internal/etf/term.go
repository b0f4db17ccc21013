package etf

// Atom is an Erlang atom, by its text (UTF-8). The atoms nil, true and false are never Atom values:
// they decode to, and encode from, Go's nil, true and false.
type Atom string

// Tuple is an Erlang tuple.
type Tuple []any

// Pair is one key and value of a Map.
type Pair struct {
	Key   any
	Value any
}

// Map is an Erlang map whose keys are not all binaries (atom keys, as Elixir structs and most Elixir
// maps have, or keys of mixed types), as its pairs in the order they came on the wire. Maps whose keys
// are all binaries decode to map[string]any instead.
type Map []Pair

// Get returns the value of the first pair whose key equals key (compared with ==, so key must be a
// comparable value such as an Atom, a string or an int64), and whether there was one.
func (m Map) Get(key any) (any, bool) {
	for _, p := range m {
		if comparable(p.Key) && p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

func comparable(v any) bool {
	switch v.(type) {
	case Atom, string, int64, float64, bool, nil:
		return true
	}
	return false
}

// ImproperList is a list whose tail is not the empty list, such as [1 | 2]: Elems are the elements
// (at least one), Tail the final tail (never a proper list).
type ImproperList struct {
	Elems []any
	Tail  any
}

// BitBinary is a bitstring whose length is not a whole number of bytes: the first Bits bits (1..8) of
// the last byte of Data are used.
type BitBinary struct {
	Data []byte
	Bits uint8
}

// Pid is an Erlang process identifier: an opaque value that can be sent back to its node.
type Pid struct {
	Node     Atom
	ID       uint32
	Serial   uint32
	Creation uint32
}

// Ref is an Erlang reference: an opaque value that can be sent back to its node. ID has 1 to 5 words.
type Ref struct {
	Node     Atom
	Creation uint32
	ID       []uint32
}
