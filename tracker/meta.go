package tracker

import (
	"cmp"
	"math"
	"reflect"
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

// userMeta returns the metadata as users see it (Presence.Meta): every entry but the refs, which
// Presence.Ref and Presence.RefPrev carry. Shared by every value of the box and every read: read-only.
// nil when there is no such entry.
func (v *value) userMeta() map[string]any { return v.meta.user() }

// freshUserMeta returns userMeta as a fresh map the caller may modify (never nil).
func (v *value) freshUserMeta() map[string]any {
	m := make(map[string]any, v.meta.len())
	for k, x := range v.meta.user() {
		m[k] = x
	}
	return m
}

// refPrevString returns the value's "phx_ref_prev" ("" if it has none).
func (v *value) refPrevString() string {
	if v.meta.box == nil || v.meta.box.shape.prev < 0 {
		return ""
	}
	s, _ := v.meta.val(v.meta.box.shape.prev).(string)
	return s
}

// refString returns the value's "phx_ref" as users see it ("" if it has none).
func (v *value) refString() string {
	if v.ref.ok {
		return v.ref.String()
	}
	x, _ := v.meta.get(MetaRef)
	s, _ := x.(string)
	return s
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

// metaData is the metadata a value holds (but its ref): a metaBox, which values with the same metadata
// share where that is cheap to see (values decoded one after another from the same meta bytes, and
// consecutive Tracks of a shard with equal scalar metas), so that their Presence.Meta is one map. The
// zero metaData is empty. 8 bytes in the value.
type metaData struct{ box *metaBox }

// metaBox holds the keys, sorted, in a metaShape that boxes with the same keys share, and right after it,
// in the same allocation, the values (16 bytes of header, then 16 a value: 48 bytes for two keys).
// Immutable, but for user, made once.
type metaBox struct {
	shape *metaShape
	// user is the metadata as users see it, made at its first read: the entries but "phx_ref" and
	// "phx_ref_prev". nil until then; a box without such entries keeps an empty map here and reads nil.
	user atomic.Pointer[map[string]any]
}

// vals returns the values, which follow the box in its allocation (newMetaBox).
func (b *metaBox) vals() []any {
	return unsafe.Slice((*any)(unsafe.Add(unsafe.Pointer(b), unsafe.Sizeof(metaBox{}))), len(b.shape.keys))
}

// metaShape is a sorted set of meta keys.
type metaShape struct {
	keys []string
	prev int // the index of "phx_ref_prev" in keys, -1 if it is not there
}

func newMetaShape(md metaEntries) *metaShape {
	sh := &metaShape{keys: make([]string, len(md)), prev: -1}
	for i, e := range md {
		sh.keys[i] = e.key
		if e.key == MetaRefPrev {
			sh.prev = i
		}
	}
	return sh
}

// packUserMeta returns meta, normalised as peers will decode it, as the metaData a new value holds
// (prepareMeta then packMeta), without the intermediate entries for a small meta of plain scalars (the
// usual one: Track's path), and then in the box last holds if it has the same entries (see
// packMetaReusing). The refs are the tracker's: keys MetaRef and MetaRefPrev are left out.
func packUserMeta(meta map[string]any, last *atomic.Pointer[metaBox]) (metaData, error) {
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
	return packMetaReusing(md, last), nil
}

// smallMeta is the size up to which packUserMeta sorts a meta's entries on the stack.
const smallMeta = 8

// packMeta returns the entries (sorted, unique keys) as a metaData.
func packMeta(md metaEntries) metaData {
	if len(md) == 0 {
		return metaData{}
	}
	b, vals := newMetaBox(len(md))
	for i, e := range md {
		vals[i] = e.val
	}
	b.shape = shapes.get(md)
	return metaData{b}
}

// newMetaBox returns a box for n values, which follow it in one allocation, and its values: fixed types
// up to 8 values, then types made with reflect for n rounded up to a power of two (a few, kept).
func newMetaBox(n int) (*metaBox, []any) {
	var b *metaBox
	switch n {
	case 1:
		b = &new(metaBoxOf[[1]any]).metaBox
	case 2:
		b = &new(metaBoxOf[[2]any]).metaBox
	case 3:
		b = &new(metaBoxOf[[3]any]).metaBox
	case 4:
		b = &new(metaBoxOf[[4]any]).metaBox
	case 5, 6, 7, 8:
		b = &new(metaBoxOf[[8]any]).metaBox
	default:
		b = (*metaBox)(reflect.New(bigBoxType(n)).UnsafePointer())
	}
	return b, unsafe.Slice((*any)(unsafe.Add(unsafe.Pointer(b), unsafe.Sizeof(metaBox{}))), n)
}

// metaBoxOf is a box and its values, A an array of them.
type metaBoxOf[A any] struct {
	metaBox
	vals A
}

// bigBoxTypes are the types of boxes of more than 8 values, by their size (a power of two).
var bigBoxTypes sync.Map

func bigBoxType(n int) reflect.Type {
	size := 16
	for size < n {
		size *= 2
	}
	if t, ok := bigBoxTypes.Load(size); ok {
		return t.(reflect.Type)
	}
	t := reflect.StructOf([]reflect.StructField{
		{Name: "Box", Type: reflect.TypeFor[metaBox]()},
		{Name: "Vals", Type: reflect.ArrayOf(size, reflect.TypeFor[any]())},
	})
	t2, _ := bigBoxTypes.LoadOrStore(size, t)
	return t2.(reflect.Type)
}

// packMetaReusing is packMeta of scalar entries, returning the box last holds when it has the same
// entries (and storing the new box there otherwise): consecutive Tracks with equal metas share a box,
// and so their Presence.Meta.
func packMetaReusing(md metaEntries, last *atomic.Pointer[metaBox]) metaData {
	if len(md) == 0 {
		return metaData{}
	}
	if b := last.Load(); b != nil && b.sameScalars(md) {
		return metaData{b}
	}
	m := packMeta(md)
	last.Store(m.box)
	return m
}

// sameScalars reports whether the box holds exactly md, whose values are scalars (normalScalar's).
func (b *metaBox) sameScalars(md metaEntries) bool {
	if len(b.shape.keys) != len(md) {
		return false
	}
	vals := b.vals()
	for i, e := range md {
		if b.shape.keys[i] != e.key || !sameScalar(vals[i], e.val) {
			return false
		}
	}
	return true
}

// sameScalar reports whether a and b are the same scalar (never true for anything else, so == cannot
// panic on an uncomparable value).
func sameScalar(a, b any) bool {
	switch x := b.(type) {
	case nil:
		return a == nil
	case string:
		y, ok := a.(string)
		return ok && x == y
	case int64:
		y, ok := a.(int64)
		return ok && x == y
	case uint64:
		y, ok := a.(uint64)
		return ok && x == y
	case float64:
		y, ok := a.(float64)
		return ok && x == y && math.Signbit(x) == math.Signbit(y)
	case bool:
		y, ok := a.(bool)
		return ok && x == y
	}
	return false
}

func (m metaData) len() int {
	if m.box == nil {
		return 0
	}
	return len(m.box.shape.keys)
}

// keys returns the sorted keys (shared: read-only).
func (m metaData) keys() []string {
	if m.box == nil {
		return nil
	}
	return m.box.shape.keys
}

// val returns the value of the i-th key.
func (m metaData) val(i int) any {
	return m.box.vals()[i]
}

// get returns the value of key k.
func (m metaData) get(k string) (any, bool) {
	if i, ok := slices.BinarySearch(m.keys(), k); ok {
		return m.val(i), true
	}
	return nil, false
}

// entries returns the metadata as entries (a fresh slice).
func (m metaData) entries() metaEntries {
	if m.box == nil {
		return nil
	}
	out := make(metaEntries, len(m.box.shape.keys))
	for i, k := range m.box.shape.keys {
		out[i] = metaEntry{k, m.val(i)}
	}
	return out
}

// user returns the metadata as users see it (see metaBox.user): shared, read-only; nil if empty.
func (m metaData) user() map[string]any {
	if m.box == nil {
		return nil
	}
	if p := m.box.user.Load(); p != nil {
		return *p
	}
	u := make(map[string]any, len(m.box.shape.keys))
	for i, k := range m.box.shape.keys {
		if k != MetaRef && k != MetaRefPrev {
			u[k] = m.val(i)
		}
	}
	if len(u) == 0 {
		u = nil
	}
	if !m.box.user.CompareAndSwap(nil, &u) { // another reader made it meanwhile: one map per box
		return *m.box.user.Load()
	}
	return u
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
	sh = newMetaShape(md)
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
