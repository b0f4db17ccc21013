package etf

import (
	"encoding/binary"
	"reflect"
	"slices"
	"strings"
)

// structFields returns the fields of struct type t that Marshal writes and Unmarshal fills, sorted by
// name. As with encoding/json: exported fields, named by their `etf:"name"` tag, else by their
// `json:"name"` tag (JSON-shaped payloads have the same keys), else by their Go name; "-" leaves a
// field out; `etf:",omitempty"` leaves it out of Marshal's map when it is
// false, 0, "", nil or empty. The fields of an embedded struct (not a pointer to one) without a tag
// are promoted; of two fields with the same name, the shallower wins, and at the same depth the tagged
// one, or neither.
func structFields(t reflect.Type, building map[reflect.Type]*codec) []field {
	type candidate struct {
		field
		depth  int
		tagged bool
		typ    reflect.Type
	}
	var all []candidate
	var walk func(t reflect.Type, index []int, offset uintptr, depth int, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, index []int, offset uintptr, depth int, seen map[reflect.Type]bool) {
		if seen[t] {
			return
		}
		seen[t] = true
		defer delete(seen, t)
		for i := range t.NumField() {
			sf := t.Field(i)
			tag, ok := sf.Tag.Lookup("etf")
			if !ok {
				tag = sf.Tag.Get("json") // the names a JSON payload of a Phoenix app has
			}
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(slices.Clip(index), i)
			if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
				walk(sf.Type, idx, offset+sf.Offset, depth+1, seen)
				continue
			}
			if !sf.IsExported() {
				continue
			}
			tagged := name != ""
			if !tagged {
				name = sf.Name
			}
			all = append(all, candidate{
				field: field{name: name, index: idx, offset: offset + sf.Offset, omitEmpty: hasOption(opts, "omitempty")},
				depth: depth, tagged: tagged, typ: sf.Type,
			})
		}
	}
	walk(t, nil, 0, 0, map[reflect.Type]bool{})

	slices.SortStableFunc(all, func(a, b candidate) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if a.depth != b.depth {
			return a.depth - b.depth
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return 0
	})
	var out []field
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].name == all[i].name {
			j++
		}
		// all[i] is the shallowest (tagged first); it wins unless another is just as good
		if j == i+1 || all[i+1].depth != all[i].depth || all[i+1].tagged != all[i].tagged {
			f := all[i].field
			f.key = binary.BigEndian.AppendUint32([]byte{tagBinary}, uint32(len(f.name)))
			f.key = append(f.key, f.name...)
			f.c = build(all[i].typ, building)
			out = append(out, f)
		}
		i = j
	}
	return out
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}
