package tracker

import (
	"slices"
	"sync/atomic"
)

// tagSet is a set of tags held compactly: per replica, its clocks in a slice, sorted when first read. It
// holds the tags of the values a stream's parts carried (a million for a large state) until the final
// extract: 8 bytes a tag and nothing for the GC to scan, where a map[tag]struct{} took about 40 bytes a tag,
// each with a string to scan. Used by one goroutine at a time (has sorts). The nil *tagSet is empty.
//
// A tagSet also has a mark of its own: mergeValues marks the values it joins with it (value.mark), and
// those need not be added: holds reports them without a search. A stream's parts that bring a new node a
// million values thus add nothing here, and its final extract finds each held value by its mark.
type tagSet struct {
	replicas map[replicaRef]*clockList
	n        int // tags added
	marked   int // values marked
	mark     uint32
}

// lastMark numbers the tagSets' marks (0 is no mark).
var lastMark atomic.Uint32

// clockList is the clocks of one replica in a tagSet.
type clockList struct {
	clocks []uint64
	sorted bool // clocks ascending (they come so from a sender, which sorts its parts)
}

func newTagSet() *tagSet {
	m := lastMark.Add(1)
	for m == 0 { // wrapped around
		m = lastMark.Add(1)
	}
	return &tagSet{replicas: make(map[replicaRef]*clockList), mark: m}
}

// merged merges a part's values into s (mergeValues, marking what joins) and adds to ts the tags of those
// it did not mark: the values merged before, which ts must hold too. It returns the joins to report.
func (ts *tagSet) merged(s *state, values []*value, unknown map[replicaRef]struct{}) []*value {
	joins := s.mergeValues(values, unknown, ts.mark)
	for _, v := range values {
		if v.mark == ts.mark {
			ts.marked++
		} else {
			ts.add(v.tag)
		}
	}
	return joins
}

// holds reports whether v's tag is in ts: v was marked with its mark, or its tag was added.
func (ts *tagSet) holds(v *value) bool {
	if ts == nil {
		return false
	}
	return v.mark == ts.mark || ts.has(v.tag)
}

// add adds t (adding it twice is harmless).
func (ts *tagSet) add(t tag) {
	l := ts.replicas[t.replica]
	if l == nil {
		l = &clockList{sorted: true}
		ts.replicas[t.replica] = l
	}
	if n := len(l.clocks); n > 0 && l.clocks[n-1] > t.clock {
		l.sorted = false
	}
	l.clocks = append(l.clocks, t.clock)
	ts.n++
}

// has reports whether t was added.
func (ts *tagSet) has(t tag) bool {
	if ts == nil {
		return false
	}
	if len(ts.replicas) == 0 {
		return false
	}
	l := ts.replicas[t.replica]
	if l == nil {
		return false
	}
	if !l.sorted {
		slices.Sort(l.clocks)
		l.sorted = true
	}
	_, ok := slices.BinarySearch(l.clocks, t.clock)
	return ok
}

// len returns the number of tags added and values marked (a tag added twice counts twice).
func (ts *tagSet) len() int {
	if ts == nil {
		return 0
	}
	return ts.n + ts.marked
}
