package tracker

import "slices"

// tagSet is a set of tags held compactly: per replica, its clocks in a slice, sorted when first read. It
// holds the tags of the values a stream's parts carried (a million for a large state) until the final
// extract: 8 bytes a tag and nothing for the GC to scan, where a map[tag]struct{} took about 40 bytes a tag,
// each with a string to scan. Used by one goroutine at a time (has sorts). The nil *tagSet is empty.
type tagSet struct {
	replicas map[replicaRef]*clockList
	n        int
}

// clockList is the clocks of one replica in a tagSet.
type clockList struct {
	clocks []uint64
	sorted bool // clocks ascending (they come so from a sender, which sorts its parts)
}

func newTagSet() *tagSet { return &tagSet{replicas: make(map[replicaRef]*clockList)} }

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

// len returns the number of tags added (a tag added twice counts twice).
func (ts *tagSet) len() int {
	if ts == nil {
		return 0
	}
	return ts.n
}
