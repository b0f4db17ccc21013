package tracker

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

// A full state too large for one message travels in parts (a stream, chunk.go): parts carrying values
// only, then the extract's context and clouds with no values. A part is the payload
//
//	[1, 3, replicas, topics, values]
//
// with the tables and values encoded as in a delta or an extract (codec_state.go). A part stands on its
// own: the receiver merges its values as they arrive (state.mergeValues), and the final extract, with the
// tags of every value the parts carried, brings the removes and the context (state.mergeExtractParts). A
// large delta (a transfer answered from the delta generations) travels the same way, its final payload
// the delta's range and clouds (state.mergeDeltaParts).

// stateParts cuts a full-state extract, or a large delta, into the payloads of a stream, lazily: values
// sorted by replica and clock (so that the receiver's clouds compact as the parts arrive), encoded a part at
// a time, then the extract or delta without its values.
type stateParts struct {
	values []*value
	next   int
	budget int // the bytes a part aims at
	final  func() ([]byte, error)
	kind   gossipKind // of the final payload
}

func newExtractParts(x *extract, budget int) *stateParts {
	values := x.list
	if values == nil {
		values = slices.Collect(maps.Values(x.values))
	}
	return newStateParts(values, budget, gossipTransferExtract, func() ([]byte, error) {
		return marshalExtract(&extract{context: x.context, clouds: x.clouds})
	})
}

func newDeltaParts(d *delta, budget int) *stateParts {
	return newStateParts(slices.Collect(maps.Values(d.values)), budget, gossipTransferDelta, func() ([]byte, error) {
		return marshalDelta(&delta{start: d.start, end: d.end, clouds: d.clouds})
	})
}

func newStateParts(vals []*value, budget int, kind gossipKind, final func() ([]byte, error)) *stateParts {
	// By replica (a few: a linear scan finds a value's group without hashing its ref), then by clock within
	// each, sorted on (clock, value) pairs so that comparisons do not chase pointers to a million values.
	type group struct {
		ref    replicaRef
		n      int
		clocks []clockedValue
	}
	var groups []*group
	find := func(ref replicaRef) *group {
		for _, g := range groups {
			if g.ref == ref {
				return g
			}
		}
		g := &group{ref: ref}
		groups = append(groups, g)
		return g
	}
	var last *group
	for _, v := range vals {
		if last == nil || last.ref != v.tag.replica {
			last = find(v.tag.replica)
		}
		last.n++
	}
	for _, g := range groups {
		g.clocks = make([]clockedValue, 0, g.n)
	}
	last = nil
	for _, v := range vals {
		if last == nil || last.ref != v.tag.replica {
			last = find(v.tag.replica)
		}
		last.clocks = append(last.clocks, clockedValue{v.tag.clock, v})
	}
	slices.SortFunc(groups, func(a, b *group) int {
		return cmp.Or(cmp.Compare(a.ref.Name, b.ref.Name), cmp.Compare(a.ref.Vsn, b.ref.Vsn))
	})
	values := make([]*value, 0, len(vals))
	for _, g := range groups {
		values = appendByClock(values, g.clocks)
	}
	return &stateParts{values: values, budget: budget, kind: kind, final: final}
}

// appendByClock appends the values of one replica (unique clocks) in the order of their clocks. Clocks
// that leave few holes (a replica's values hold most of its clocks: a sender's own, as a rule) are placed
// by their clock in one pass; others are sorted.
func appendByClock(values []*value, cvs []clockedValue) []*value {
	if len(cvs) == 0 {
		return values
	}
	lo, hi := cvs[0].clock, cvs[0].clock
	for _, cv := range cvs {
		lo, hi = min(lo, cv.clock), max(hi, cv.clock)
	}
	if span := hi - lo + 1; span <= 2*uint64(len(cvs)) {
		slots := make([]*value, span)
		for _, cv := range cvs {
			slots[cv.clock-lo] = cv.v
		}
		for _, v := range slots {
			if v != nil {
				values = append(values, v)
			}
		}
		return values
	}
	slices.SortFunc(cvs, func(a, b clockedValue) int { return cmp.Compare(a.clock, b.clock) })
	for _, cv := range cvs {
		values = append(values, cv.v)
	}
	return values
}

// clockedValue is a value with its clock beside it, for sorting.
type clockedValue struct {
	clock uint64
	v     *value
}

// nextPayload returns the next payload and its gossip kind (a part, or at last the extract or delta
// without its values), and whether it is the last.
func (p *stateParts) nextPayload() (b []byte, kind gossipKind, last bool, err error) {
	if p.next < len(p.values) {
		b, n, err := marshalPart(p.values[p.next:], p.budget)
		p.next += n
		return b, gossipTransferPart, false, err
	}
	b, err = p.final()
	return b, p.kind, true, err
}

// marshalPart encodes values from the first into a part payload of at most about budget bytes (the
// tables are estimated; at least one value, however large), and returns it and how many values it holds.
func marshalPart(values []*value, budget int) ([]byte, int, error) {
	var e stateEncoder
	e.init()
	var vbuf bytes.Buffer
	vbuf.Grow(budget + budget/8) // no growing and copying as values are added
	venc := msgpack.NewEncoder(&vbuf)
	venc.UseCompactInts(true)
	tables := 16
	n := 0
	for n < len(values) {
		v := values[n]
		// What this value adds, taken back if it makes the part go over budget (unless it is the first).
		vlen, tlen, nr, nt := vbuf.Len(), tables, len(e.replicas), len(e.topics)
		if _, ok := e.rindex[v.tag.replica]; !ok {
			tables += len(v.tag.replica.Name) + 16
		}
		ri := e.replica(v.tag.replica)
		ti, ok := e.tindex[v.topic]
		if !ok {
			ti = len(e.topics)
			e.tindex[v.topic] = ti
			e.topics = append(e.topics, v.topic)
			tables += len(v.topic) + 5
		}
		e.check(venc.EncodeArrayLen(6))
		e.check(venc.EncodeUint(uint64(ri)))
		e.check(venc.EncodeUint(v.tag.clock))
		e.check(venc.EncodeUint(uint64(ti)))
		e.check(venc.EncodeString(v.owner))
		e.check(venc.EncodeString(v.key))
		e.check(encodeValueMeta(venc, v))
		if n > 0 && vbuf.Len()+tables > budget {
			vbuf.Truncate(vlen)
			tables = tlen
			for _, ref := range e.replicas[nr:] {
				delete(e.rindex, ref)
			}
			for _, t := range e.topics[nt:] {
				delete(e.tindex, t)
			}
			e.replicas, e.topics = e.replicas[:nr], e.topics[:nt]
			break
		}
		n++
	}
	e.buf.Grow(vbuf.Len() + tables + 64)
	e.header(payloadPart, 5)
	e.check(e.enc.EncodeArrayLen(len(e.topics)))
	for _, t := range e.topics {
		e.check(e.enc.EncodeString(t))
	}
	e.check(e.enc.EncodeArrayLen(n))
	e.buf.Write(vbuf.Bytes())
	if e.err != nil {
		return nil, 0, fmt.Errorf("tracker: encoding a state part: %w", e.err)
	}
	return e.buf.Bytes(), n, nil
}

// unmarshalPart decodes and validates a part encoded by marshalPart.
func unmarshalPart(b []byte) ([]*value, error) {
	var sd stateDecoder
	if err := sd.begin(b, payloadPart); err != nil {
		return nil, invalid(err)
	}
	var values []*value
	err := sd.eachValue(func(n int) { values = make([]*value, 0, n) }, func(v *value) error {
		values = append(values, v)
		return nil
	})
	if err != nil {
		return nil, invalid(err)
	}
	if err := sd.end(); err != nil {
		return nil, invalid(err)
	}
	return values, nil
}
