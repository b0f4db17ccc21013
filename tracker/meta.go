package tracker

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Metadata is held compactly and rendered on read. A presence's meta as users see it is the map they gave
// (normalised) plus "phx_ref" and, after an update, "phx_ref_prev". Held that way, each presence would
// carry a Go map (about 300 bytes even for two keys) and its ref as a boxed string (about 50 bytes), which
// was most of the tracker's memory. Instead a value holds the user's entries as a sorted slice (metaData)
// and its ref as a 12-byte binary (refID); Presence.Meta is built from them when a read or a diff asks.
// "phx_ref_prev", which only updated presences have, stays an ordinary entry (a string).

// metaEntry is one key of a presence's metadata.
type metaEntry struct {
	key string
	val any
}

// metaEntries is a presence's metadata but its ref, as it is built: entries sorted by key, unique keys,
// never "phx_ref" when the value's ref holds it. nil when empty. packMeta turns it into the metaData a
// value holds.
type metaEntries []metaEntry

// newMetaData returns the entries of m (already normalised), or nil if m is empty. The refs are the
// caller's: keys MetaRef and MetaRefPrev are left out.
func newMetaData(m map[string]any) metaEntries {
	n := len(m)
	if _, ok := m[MetaRef]; ok {
		n--
	}
	if _, ok := m[MetaRefPrev]; ok {
		n--
	}
	if n <= 0 {
		return nil
	}
	md := make(metaEntries, 0, n)
	for k, v := range m {
		if k != MetaRef && k != MetaRefPrev {
			md = append(md, metaEntry{k, v})
		}
	}
	slices.SortFunc(md, func(a, b metaEntry) int { return cmp.Compare(a.key, b.key) })
	return md
}

// metaDataAll returns every entry of m, refs included, or nil if m is empty.
func metaDataAll(m map[string]any) metaEntries {
	if len(m) == 0 {
		return nil
	}
	md := make(metaEntries, 0, len(m))
	for k, v := range m {
		md = append(md, metaEntry{k, v})
	}
	return sortMetaData(md)
}

// sortMetaData sorts md by key in place and keeps, of a key given more than once, the last; nil if empty.
func sortMetaData(md metaEntries) metaEntries {
	if len(md) == 0 {
		return nil
	}
	slices.SortStableFunc(md, func(a, b metaEntry) int { return cmp.Compare(a.key, b.key) })
	out := md[:0]
	for i, e := range md {
		if i+1 < len(md) && md[i+1].key == e.key {
			continue
		}
		out = append(out, e)
	}
	clear(md[len(out):])
	return out
}

// get returns the value of key k.
func (md metaEntries) get(k string) (any, bool) {
	i, ok := slices.BinarySearchFunc(md, k, func(e metaEntry, k string) int { return cmp.Compare(e.key, k) })
	if !ok {
		return nil, false
	}
	return md[i].val, true
}

// with returns md with key k set to val (a fresh slice).
func (md metaEntries) with(k string, val any) metaEntries {
	i, ok := slices.BinarySearchFunc(md, k, func(e metaEntry, k string) int { return cmp.Compare(e.key, k) })
	out := make(metaEntries, len(md), len(md)+1)
	copy(out, md)
	if ok {
		out[i].val = val
		return out
	}
	return slices.Insert(out, i, metaEntry{k, val})
}

// without returns md without key k (a fresh slice when k is there, md itself otherwise).
func (md metaEntries) without(k string) metaEntries {
	i, ok := slices.BinarySearchFunc(md, k, func(e metaEntry, k string) int { return cmp.Compare(e.key, k) })
	if !ok {
		return md
	}
	if len(md) == 1 {
		return nil
	}
	return slices.Delete(slices.Clone(md), i, i+1)
}

// renderMeta returns the metadata as users see it: the entries plus the ref the value holds. A fresh map.
func (v *value) renderMeta() map[string]any {
	m := make(map[string]any, v.metaLen())
	for i, k := range v.meta.keys() {
		m[k] = v.meta.val(i)
	}
	if v.ref.ok {
		m[MetaRef] = v.ref.String()
	}
	return m
}

// refString returns the value's "phx_ref" as users see it ("" if it has none).
func (v *value) refString() string {
	if v.ref.ok {
		return v.ref.String()
	}
	if i, ok := slices.BinarySearch(v.meta.keys(), MetaRef); ok {
		s, _ := v.meta.val(i).(string)
		return s
	}
	return ""
}

// metaLen returns the number of keys of the rendered metadata.
func (v *value) metaLen() int {
	if v.ref.ok {
		return v.meta.len() + 1
	}
	return v.meta.len()
}

// splitRef splits decoded metadata into its entries and its ref: "phx_ref" goes to the ref when it is a
// ref in the canonical format (16 characters of URL-safe base64 that encode 12 bytes, and so decode back
// to the same string); anything else stays an ordinary entry, rendered as it came.
func splitRef(md metaEntries) (metaEntries, refID) {
	if x, ok := md.get(MetaRef); ok {
		if s, ok := x.(string); ok {
			if r, ok := parseRef(s); ok {
				return md.without(MetaRef), r
			}
		}
	}
	return md, refID{}
}

// metaData is the metadata a value holds (but its ref): the keys, sorted, in a metaShape that values with
// the same keys share, and the values in an array of as many, of which vals points to the first. 16 bytes
// in the value plus 16 a key, where a []metaEntry took 24 plus 32 a key. The zero metaData is empty.
// Immutable.
type metaData struct {
	shape *metaShape
	vals  *any
}

// metaShape is a sorted set of meta keys.
type metaShape struct{ keys []string }

// packUserMeta returns meta, normalised as peers will decode it, as the metaData a new value holds
// (prepareMeta then packMeta), without the intermediate entries for a small meta of plain scalars (the
// usual one: Track's path). The refs are the tracker's: keys MetaRef and MetaRefPrev are left out.
func packUserMeta(meta map[string]any) (metaData, error) {
	if len(meta) > smallMeta {
		md, err := prepareMeta(meta)
		return packMeta(md), err
	}
	var buf [smallMeta]metaEntry
	md := buf[:0]
	for k, v := range meta {
		if k == MetaRef || k == MetaRefPrev {
			continue
		}
		nv, ok := normalScalar(v)
		if !ok {
			md, err := prepareMeta(meta)
			return packMeta(md), err
		}
		md = append(md, metaEntry{k, nv})
	}
	for i := 1; i < len(md); i++ { // insertion sort: a few keys, unique (map keys)
		for j := i; j > 0 && md[j].key < md[j-1].key; j-- {
			md[j], md[j-1] = md[j-1], md[j]
		}
	}
	return packMeta(md), nil
}

// smallMeta is the size up to which packUserMeta sorts a meta's entries on the stack.
const smallMeta = 8

// packMeta returns the entries (sorted, unique keys) as a metaData.
func packMeta(md metaEntries) metaData {
	if len(md) == 0 {
		return metaData{}
	}
	vals := make([]any, len(md))
	for i, e := range md {
		vals[i] = e.val
	}
	return metaData{shape: shapes.get(md), vals: &vals[0]}
}

func (m metaData) len() int {
	if m.shape == nil {
		return 0
	}
	return len(m.shape.keys)
}

// keys returns the sorted keys (shared: read-only).
func (m metaData) keys() []string {
	if m.shape == nil {
		return nil
	}
	return m.shape.keys
}

// val returns the value of the i-th key.
func (m metaData) val(i int) any {
	return unsafe.Slice(m.vals, len(m.shape.keys))[i]
}

// entries returns the metadata as entries (a fresh slice).
func (m metaData) entries() metaEntries {
	if m.shape == nil {
		return nil
	}
	out := make(metaEntries, len(m.shape.keys))
	for i, k := range m.shape.keys {
		out[i] = metaEntry{k, m.val(i)}
	}
	return out
}

// maxShapes bounds the interned shapes: past it (gossip with ever new keys), new key sets get a shape of
// their own, which costs 24 bytes and the keys' headers per value but no unbounded table.
const maxShapes = 4096

// shapes interns metaShapes, process-wide.
var shapes = shapeTable{m: make(map[string]*metaShape)}

type shapeTable struct {
	mu   sync.RWMutex
	m    map[string]*metaShape // by the keys, each followed by a zero byte
	last atomic.Pointer[metaShape]
}

// get returns the shape of md's keys.
func (t *shapeTable) get(md metaEntries) *metaShape {
	if sh := t.last.Load(); sh != nil && sh.matches(md) { // the shape of the meta before, as a rule
		return sh
	}
	sh := t.lookup(md)
	t.last.Store(sh)
	return sh
}

// lookup returns the shape of md's keys from the table, adding it if there is room.
func (t *shapeTable) lookup(md metaEntries) *metaShape {
	var buf [256]byte
	b := buf[:0]
	for _, e := range md {
		b = append(b, e.key...)
		b = append(b, 0)
	}
	t.mu.RLock()
	sh := t.m[string(b)]
	t.mu.RUnlock()
	if sh != nil && sh.matches(md) { // a key with a zero byte in it may name another shape
		return sh
	}
	sh = &metaShape{keys: make([]string, len(md))}
	for i, e := range md {
		sh.keys[i] = e.key
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.m[string(b)]; old != nil {
		if old.matches(md) {
			return old
		}
		return sh
	}
	if len(t.m) < maxShapes {
		t.m[string(b)] = sh
	}
	return sh
}

func (sh *metaShape) matches(md metaEntries) bool {
	if len(sh.keys) != len(md) {
		return false
	}
	for i, k := range sh.keys {
		if md[i].key != k {
			return false
		}
	}
	return true
}
