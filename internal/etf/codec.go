package etf

import (
	"math/big"
	"reflect"
	"sync"
	"sync/atomic"
)

// A codec is how Marshal and Unmarshal handle one Go type, worked out once per type (as encoding/json
// caches its encoders): its kind of handling, its element and key codecs, its struct fields.

type codecKind uint8

const (
	kUnsupported codecKind = iota // channels, functions, complex numbers...: an error either way
	// kBool to kString are the scalars leaf.go reads and writes through their addresses: keep them
	// together, in this order.
	kBool
	kInt
	kUint
	kFloat
	kString    // string kinds: binaries (and atoms, by their text) in, binaries out
	kAtom      // Atom: atoms only, both ways
	kBytes     // []byte kinds: binaries
	kByteArray // [N]byte: a binary of N bytes
	kAny       // interface{}: the values Decode returns
	kIface     // other interfaces: a decoded value that implements it
	kPtr
	kSlice
	kArray
	kMap
	kStruct
	kBig     // big.Int and *big.Int
	kRaw     // Raw: the term's own bytes
	kRawTerm // RawTerm: the term's own bytes, shared
	kGeneric // the package's own types (Tuple, Map, Pid...): Decode's value, assigned
)

type codec struct {
	kind   codecKind
	rkind  reflect.Kind // typ.Kind(), without a call through the interface
	typ    reflect.Type
	elem   *codec  // kPtr, kSlice, kArray, kMap: the element (value) type
	key    *codec  // kMap: the key type
	fields []field // kStruct: sorted by name, Erlang's term order for binary keys
	byName map[string]int
}

// A field is an exported struct field (or one promoted from an embedded struct) and its key.
type field struct {
	name      string
	key       []byte // the name as a BINARY_EXT, what Marshal writes
	index     []int
	offset    uintptr // from the start of the outermost struct (embedded structs are never pointers)
	omitEmpty bool
	c         *codec
}

var (
	codecs    sync.Map              // reflect.Type → *codec, each complete
	lastCodec atomic.Pointer[codec] // the last one looked up: a program that decodes one type saves the lookup
	buildMu   sync.Mutex

	anyType       = reflect.TypeFor[any]()
	bigIntType    = reflect.TypeFor[big.Int]()
	bigIntPtrType = reflect.TypeFor[*big.Int]()
	rawType       = reflect.TypeFor[Raw]()
	rawTermType   = reflect.TypeFor[RawTerm]()
	genericTypes  = map[reflect.Type]bool{
		reflect.TypeFor[Tuple](): true, reflect.TypeFor[Map](): true, reflect.TypeFor[Pair](): true,
		reflect.TypeFor[ImproperList](): true, reflect.TypeFor[BitBinary](): true,
		reflect.TypeFor[Pid](): true, reflect.TypeFor[Ref](): true,
	}
)

// codecFor returns t's codec. Codecs are built under a lock and published only when complete, with
// every codec of a recursive type, so that a reader never sees one half built.
func codecFor(t reflect.Type) *codec {
	if c := lastCodec.Load(); c != nil && c.typ == t {
		return c
	}
	if c, ok := codecs.Load(t); ok {
		lastCodec.Store(c.(*codec))
		return c.(*codec)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	building := map[reflect.Type]*codec{}
	c := build(t, building)
	for t, c := range building {
		codecs.Store(t, c)
	}
	return c
}

func build(t reflect.Type, building map[reflect.Type]*codec) *codec {
	if c, ok := codecs.Load(t); ok {
		return c.(*codec)
	}
	if c, ok := building[t]; ok {
		return c // a recursive type: filled in further up
	}
	c := &codec{typ: t, rkind: t.Kind()}
	building[t] = c
	switch {
	case t == bigIntType || t == bigIntPtrType:
		c.kind = kBig
		return c
	case t == rawType:
		c.kind = kRaw
		return c
	case t == rawTermType:
		c.kind = kRawTerm
		return c
	case t == atomType:
		c.kind = kAtom
		return c
	case genericTypes[t]:
		c.kind = kGeneric
		return c
	}
	switch t.Kind() {
	case reflect.Bool:
		c.kind = kBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		c.kind = kInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		c.kind = kUint
	case reflect.Float32, reflect.Float64:
		c.kind = kFloat
	case reflect.String:
		c.kind = kString
	case reflect.Interface:
		c.kind = kIface
		if t.NumMethod() == 0 {
			c.kind = kAny
		}
	case reflect.Pointer:
		c.kind, c.elem = kPtr, build(t.Elem(), building)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			c.kind = kBytes
		} else {
			c.kind, c.elem = kSlice, build(t.Elem(), building)
		}
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			c.kind = kByteArray
		} else {
			c.kind, c.elem = kArray, build(t.Elem(), building)
		}
	case reflect.Map:
		c.kind, c.key, c.elem = kMap, build(t.Key(), building), build(t.Elem(), building)
	case reflect.Struct:
		c.kind = kStruct
		c.fields = structFields(t, building)
		c.byName = make(map[string]int, len(c.fields))
		for i, f := range c.fields {
			c.byName[f.name] = i
		}
	}
	return c
}
