package tracker

import (
	"cmp"
	"slices"
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

// metaData is a presence's metadata but its ref: entries sorted by key, unique keys, never "phx_ref"
// when the value's ref holds it. nil when empty. Immutable once built.
type metaData []metaEntry

// newMetaData returns the entries of m (already normalised), or nil if m is empty. The refs are the
// caller's: keys MetaRef and MetaRefPrev are left out.
func newMetaData(m map[string]any) metaData {
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
	md := make(metaData, 0, n)
	for k, v := range m {
		if k != MetaRef && k != MetaRefPrev {
			md = append(md, metaEntry{k, v})
		}
	}
	slices.SortFunc(md, func(a, b metaEntry) int { return cmp.Compare(a.key, b.key) })
	return md
}

// metaDataAll returns every entry of m, refs included, or nil if m is empty.
func metaDataAll(m map[string]any) metaData {
	if len(m) == 0 {
		return nil
	}
	md := make(metaData, 0, len(m))
	for k, v := range m {
		md = append(md, metaEntry{k, v})
	}
	return sortMetaData(md)
}

// sortMetaData sorts md by key in place and keeps, of a key given more than once, the last; nil if empty.
func sortMetaData(md metaData) metaData {
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
func (md metaData) get(k string) (any, bool) {
	i, ok := slices.BinarySearchFunc(md, k, func(e metaEntry, k string) int { return cmp.Compare(e.key, k) })
	if !ok {
		return nil, false
	}
	return md[i].val, true
}

// with returns md with key k set to val (a fresh slice).
func (md metaData) with(k string, val any) metaData {
	i, ok := slices.BinarySearchFunc(md, k, func(e metaEntry, k string) int { return cmp.Compare(e.key, k) })
	out := make(metaData, len(md), len(md)+1)
	copy(out, md)
	if ok {
		out[i].val = val
		return out
	}
	return slices.Insert(out, i, metaEntry{k, val})
}

// without returns md without key k (a fresh slice when k is there, md itself otherwise).
func (md metaData) without(k string) metaData {
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
	for _, e := range v.meta {
		m[e.key] = e.val
	}
	if v.ref.ok {
		m[MetaRef] = v.ref.String()
	}
	return m
}

// metaLen returns the number of keys of the rendered metadata.
func (v *value) metaLen() int {
	if v.ref.ok {
		return len(v.meta) + 1
	}
	return len(v.meta)
}

// splitRef splits decoded metadata into its entries and its ref: "phx_ref" goes to the ref when it is a
// ref in the canonical format (16 characters of URL-safe base64 that encode 12 bytes, and so decode back
// to the same string); anything else stays an ordinary entry, rendered as it came.
func splitRef(md metaData) (metaData, refID) {
	if x, ok := md.get(MetaRef); ok {
		if s, ok := x.(string); ok {
			if r, ok := parseRef(s); ok {
				return md.without(MetaRef), r
			}
		}
	}
	return md, refID{}
}
