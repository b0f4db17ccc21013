package tracker

import (
	"cmp"
	"slices"
)

// Metadata is held compactly and rendered on read. A presence's meta as users see it is the map they gave
// (normalised) plus "phx_ref" and, after an update, "phx_ref_prev". Held that way, each presence would
// carry a Go map (about 300 bytes even for two keys) and its ref as a boxed string (about 50 bytes), which
// was most of the tracker's memory. Instead a value holds the user's entries as a sorted slice (metaData)
// and its refs as 12-byte binaries (refID); Presence.Meta is built from them when a read or a diff asks.

// metaEntry is one key of a presence's metadata.
type metaEntry struct {
	key string
	val any
}

// metaData is the user's part of a presence's metadata: entries sorted by key, unique keys, never
// "phx_ref" or "phx_ref_prev" when the value's refs hold them. nil when empty. Immutable once built.
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

// render returns the metadata as users see it: the entries plus the refs the value holds. A fresh map.
func (v *value) renderMeta() map[string]any {
	n := len(v.meta)
	if v.ref.ok {
		n++
	}
	if v.prev.ok {
		n++
	}
	m := make(map[string]any, n)
	for _, e := range v.meta {
		m[e.key] = e.val
	}
	if v.ref.ok {
		m[MetaRef] = v.ref.String()
	}
	if v.prev.ok {
		m[MetaRefPrev] = v.prev.String()
	}
	return m
}

// metaLen returns the number of keys of the rendered metadata.
func (v *value) metaLen() int {
	n := len(v.meta)
	if v.ref.ok {
		n++
	}
	if v.prev.ok {
		n++
	}
	return n
}

// splitRefs splits decoded metadata into its entries and its refs: "phx_ref" and "phx_ref_prev" go to the
// refs when they are refs in the canonical format (16 characters of URL-safe base64 that encode 12 bytes
// and decode back to the same string); anything else stays an ordinary entry, rendered as it came.
func splitRefs(md metaData) (metaData, refID, refID) {
	var ref, prev refID
	if x, ok := md.get(MetaRef); ok {
		if s, ok := x.(string); ok {
			if r, ok := parseRef(s); ok {
				ref = r
				md = md.without(MetaRef)
			}
		}
	}
	if x, ok := md.get(MetaRefPrev); ok {
		if s, ok := x.(string); ok {
			if r, ok := parseRef(s); ok {
				prev = r
				md = md.without(MetaRefPrev)
			}
		}
	}
	return md, ref, prev
}
