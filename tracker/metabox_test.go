package tracker

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// A box holds its values in its own allocation, whatever their number, and the garbage collector sees
// them there: values made only for the box survive collections.
func TestMetaBoxHoldsAnyNumberOfValues(t *testing.T) {
	var boxes []metaData
	for n := 1; n <= 70; n++ {
		md := make(metaEntries, n)
		for i := range md {
			md[i] = metaEntry{fmt.Sprintf("k%03d", i), fmt.Sprintf("value %d of %d", i, n)} // fresh strings
		}
		boxes = append(boxes, packMeta(md))
	}
	runtime.GC()
	runtime.GC()
	for i, m := range boxes {
		n := i + 1
		if m.len() != n {
			t.Fatalf("box of %d values has %d", n, m.len())
		}
		for j, e := range m.entries() {
			if want := fmt.Sprintf("value %d of %d", j, n); e.key != fmt.Sprintf("k%03d", j) || e.val != want {
				t.Fatalf("box of %d values: entry %d is %v, want %q", n, j, e, want)
			}
		}
	}
}

// Consecutive Tracks of a shard with the same scalar meta share its box, and so one Meta map; a different
// meta, or one with a value that is not a scalar, does not.
func TestPackUserMetaReusesTheLastBox(t *testing.T) {
	var last atomic.Pointer[metaBox]
	a, _ := packUserMeta(map[string]any{"status": "online", "n": 1}, &last)
	b, _ := packUserMeta(map[string]any{"n": int64(1), "status": "online"}, &last)
	c, _ := packUserMeta(map[string]any{"status": "away", "n": 1}, &last)
	d, _ := packUserMeta(map[string]any{"status": "away", "n": 1.0}, &last)
	e, _ := packUserMeta(map[string]any{"status": "away", "n": []any{1}}, &last)
	f, _ := packUserMeta(map[string]any{"status": "away", "n": []any{1}}, &last)
	if a.box != b.box {
		t.Error("the same meta twice: two boxes")
	}
	if c.box == b.box || d.box == c.box || e.box == d.box || f.box == e.box {
		t.Error("a box shared by different metas, or by metas that are not scalars")
	}
	if pa, pb := (&value{meta: a}).userMeta(), (&value{meta: b}).userMeta(); fmt.Sprintf("%p", pa) != fmt.Sprintf("%p", pb) || pa["n"] != int64(1) {
		t.Errorf("Meta maps %v and %v, want one shared map", pa, pb)
	}
}
