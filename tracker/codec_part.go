package tracker

import (
	"bytes"
	"cmp"
	"fmt"
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
// tags of every value the parts carried, brings the removes and the context (state.mergeExtractParts).

// extractParts cuts a full-state extract into the payloads of a stream, lazily: values sorted by replica
// and clock (so that the receiver's clouds compact as the parts arrive), encoded a part at a time.
type extractParts struct {
	x      *extract
	values []*value
	next   int
	budget int // the bytes a part aims at
	done   bool
}

func newExtractParts(x *extract, budget int) *extractParts {
	values := make([]*value, 0, len(x.values))
	for _, v := range x.values {
		values = append(values, v)
	}
	slices.SortFunc(values, func(a, b *value) int {
		if c := cmp.Compare(a.tag.replica.Name, b.tag.replica.Name); c != 0 {
			return c
		}
		if c := cmp.Compare(a.tag.replica.Vsn, b.tag.replica.Vsn); c != 0 {
			return c
		}
		return cmp.Compare(a.tag.clock, b.tag.clock)
	})
	return &extractParts{x: x, values: values, budget: budget}
}

// nextPayload returns the next payload and its gossip kind (a part, or at last the extract without its
// values), and whether it is the last.
func (p *extractParts) nextPayload() (b []byte, kind gossipKind, last bool, err error) {
	if p.next < len(p.values) {
		b, n, err := marshalPart(p.values[p.next:], p.budget)
		p.next += n
		return b, gossipTransferPart, false, err
	}
	p.done = true
	b, err = marshalExtract(&extract{context: p.x.context, clouds: p.x.clouds})
	return b, gossipTransferExtract, true, err
}

// marshalPart encodes values from the first into a part payload of about budget bytes (at least one
// value; more only while under budget), and returns it and how many values it holds.
func marshalPart(values []*value, budget int) ([]byte, int, error) {
	var e stateEncoder
	e.init()
	var vbuf bytes.Buffer
	venc := msgpack.NewEncoder(&vbuf)
	venc.UseCompactInts(true)
	tables := 16
	n := 0
	for n < len(values) && (n == 0 || vbuf.Len()+tables < budget) {
		v := values[n]
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
		n++
	}
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
