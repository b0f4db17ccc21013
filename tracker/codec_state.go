package tracker

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Gossip encoding of deltas and full-state extracts.
//
// A payload is one msgpack array; replicas and topics are written once in tables and referred to by index:
//
//	delta:   [1, 1, replicas, start, end, clouds, topics, values]
//	extract: [1, 2, replicas, context, clouds, topics, values]
//
//	replicas: [[name, vsn], ...]
//	start, end, context: [ri, clock, ri, clock, ...]
//	clouds: [[ri, [clock, ...]], ...]
//	topics: [topic, ...]
//	values: [[ri, clock, ti, owner, key, meta], ...]    meta: nil or a map with string keys
//
// The first element is the format version; a decoder rejects versions it does not know.
//
// Decoding validates before it trusts: every declared length must fit the bytes left, indexes must be in
// their tables, replicas and topics unique, dots (tags and cloud clocks) non-zero and unique, ranges equal in
// replicas with start <= end and complete (every dot of a range in the clouds), extract clouds above their
// context, every value's replica in the range (delta) or context (extract) and its dot seen by the payload,
// no trailing bytes. Any violation is an error wrapping errInvalidPayload; decoding never panics. Callers
// still bound the payload size and nesting depth before decoding; what is decoded takes memory in proportion
// to the payload (about 20 times its size at most: a value is 7 bytes on the wire, ~150 in memory).
//
// Meta values are normalised when decoded: every integer becomes int64 (an unsigned value above
// math.MaxInt64 stays uint64), every float float64, strings string, binary []byte, msgpack timestamps
// time.Time in UTC, arrays []any and maps map[string]any (recursively, at most maxMetaDepth deep). Anything
// the msgpack encoder accepts can be sent; structs arrive as map[string]any. Maps with non-string keys and
// other extension types are rejected by the decoder, so the shard should pass meta through normalizeMeta when
// it is tracked: then a presence looks the same on every node, and no peer rejects its delta.

const (
	stateCodecVersion = 1

	payloadDelta   = 1
	payloadExtract = 2
	payloadPart    = 3 // values of a full state sent in parts (codec_part.go)

	// maxMetaDepth bounds the nesting of meta values.
	maxMetaDepth = 32
)

// errInvalidPayload is wrapped by every decoding error.
var errInvalidPayload = errors.New("tracker: invalid state payload")

// marshalDelta encodes a delta for gossip.
func marshalDelta(d *delta) ([]byte, error) {
	var e stateEncoder
	e.init()
	for ref := range d.start {
		e.replica(ref)
	}
	for ref := range d.end {
		e.replica(ref)
	}
	e.collect(d.clouds, d.values)
	e.header(payloadDelta, 8)
	e.clock(d.start)
	e.clock(d.end)
	return e.finish(d.clouds, d.values)
}

// marshalExtract encodes a full-state extract for a transfer.
func marshalExtract(x *extract) ([]byte, error) {
	if x.list != nil { // made for parts (extractForTransfer), sent whole
		values := make(map[tag]*value, len(x.list))
		for _, v := range x.list {
			values[v.tag] = v
		}
		x = &extract{context: x.context, clouds: x.clouds, values: values}
	}
	var e stateEncoder
	e.init()
	for ref := range x.context {
		e.replica(ref)
	}
	e.collect(x.clouds, x.values)
	e.header(payloadExtract, 7)
	e.clock(x.context)
	return e.finish(x.clouds, x.values)
}

// unmarshalDelta decodes and validates a delta encoded by marshalDelta.
func unmarshalDelta(b []byte) (*delta, error) {
	var sd stateDecoder
	if err := sd.begin(b, payloadDelta); err != nil {
		return nil, invalid(err)
	}
	d := &delta{}
	var err error
	if d.start, err = sd.clock(); err != nil {
		return nil, invalid(err)
	}
	if d.end, err = sd.clock(); err != nil {
		return nil, invalid(err)
	}
	if len(d.start) != len(d.end) {
		return nil, invalid(errors.New("range bounds with different replicas"))
	}
	for ref, start := range d.start {
		if end, ok := d.end[ref]; !ok || start > end {
			return nil, invalid(fmt.Errorf("bad range for %v", ref))
		}
	}
	if d.clouds, err = sd.clouds(nil); err != nil {
		return nil, invalid(err)
	}
	if ref, hole := d.rangeHole(); hole {
		return nil, invalid(fmt.Errorf("range of %v has a hole", ref))
	}
	d.values, err = sd.values(func(t tag) error {
		end, ok := d.end[t.replica]
		if !ok || t.clock > end || t.clock <= d.start[t.replica] {
			return fmt.Errorf("value %v@%d outside the range", t.replica, t.clock)
		}
		if !d.seen(t) {
			return fmt.Errorf("value %v@%d not in the clouds", t.replica, t.clock)
		}
		return nil
	})
	if err != nil {
		return nil, invalid(err)
	}
	if err := sd.end(); err != nil {
		return nil, invalid(err)
	}
	return d, nil
}

// unmarshalExtract decodes and validates an extract encoded by marshalExtract.
func unmarshalExtract(b []byte) (*extract, error) {
	var sd stateDecoder
	if err := sd.begin(b, payloadExtract); err != nil {
		return nil, invalid(err)
	}
	x := &extract{}
	var err error
	if x.context, err = sd.clock(); err != nil {
		return nil, invalid(err)
	}
	if x.clouds, err = sd.clouds(x.context); err != nil {
		return nil, invalid(err)
	}
	x.values, err = sd.values(func(t tag) error {
		clock, ok := x.context[t.replica]
		if !ok {
			return fmt.Errorf("value of %v outside the context", t.replica)
		}
		if _, inCloud := x.clouds[t.replica][t.clock]; t.clock > clock && !inCloud {
			return fmt.Errorf("value %v@%d not seen by the context", t.replica, t.clock)
		}
		return nil
	})
	if err != nil {
		return nil, invalid(err)
	}
	if err := sd.end(); err != nil {
		return nil, invalid(err)
	}
	return x, nil
}

// normalizeMeta returns meta as a peer decodes it from gossip (see the normalisation rules above), or an
// error if it cannot be sent. The shard applies it to meta given to Track and Update, so that a presence has
// the same types on every node and bad meta is refused at the call instead of breaking gossip later.
// It returns a new map (nil for nil), with room for the two refs Track adds.
func normalizeMeta(meta map[string]any) (map[string]any, error) {
	if meta == nil {
		return nil, nil
	}
	m := make(map[string]any, len(meta)+2)
	for k, v := range meta {
		nv, ok := normalScalar(v)
		if !ok {
			return normalizeMetaSlow(meta)
		}
		m[k] = nv
	}
	return m, nil
}

// normalizeMetaData is normalizeMeta into the form a value holds, without the keys "phx_ref" and
// "phx_ref_prev" (the tracker sets them).
func normalizeMetaData(meta map[string]any) (metaEntries, error) {
	md := make(metaEntries, 0, len(meta))
	for k, v := range meta {
		if k == MetaRef || k == MetaRefPrev {
			continue
		}
		nv, ok := normalScalar(v)
		if !ok {
			m, err := normalizeMetaSlow(meta)
			if err != nil {
				return nil, err
			}
			return newMetaData(m), nil
		}
		md = append(md, metaEntry{k, nv})
	}
	if len(md) == 0 {
		return nil, nil
	}
	return sortMetaData(md), nil
}

// normalizeMetaSlow is normalizeMeta for meta with values that are not plain scalars: a round trip
// through the gossip encoding itself.
func normalizeMetaSlow(meta map[string]any) (map[string]any, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := encodeMeta(enc, meta); err != nil {
		return nil, fmt.Errorf("tracker: meta cannot be encoded: %w", err)
	}
	r := bytes.NewReader(buf.Bytes())
	sd := stateDecoder{buf: buf.Bytes(), r: r, d: msgpack.NewDecoder(r)}
	out, err := sd.meta()
	if err != nil {
		return nil, fmt.Errorf("tracker: meta cannot be decoded by peers: %w", err)
	}
	return out, nil
}

// normalScalar returns v as a peer decodes it from gossip (normalizeMeta's rules: integers become int64,
// unsigned ones above math.MaxInt64 stay uint64, floats become float64), for the scalar types whose
// encoding is plain; ok is false for anything else, which then takes the round trip through msgpack.
func normalScalar(v any) (any, bool) {
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
		return v, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		if uint64(x) > math.MaxInt64 {
			return uint64(x), true
		}
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return x, true
		}
		return int64(x), true
	case float32:
		return float64(x), true
	}
	return nil, false
}

func invalid(err error) error { return fmt.Errorf("%w: %w", errInvalidPayload, err) }

// stateEncoder writes one payload.
type stateEncoder struct {
	buf      bytes.Buffer
	enc      *msgpack.Encoder
	err      error
	replicas []replicaRef
	rindex   map[replicaRef]int
	topics   []string
	tindex   map[string]int
}

func (e *stateEncoder) init() {
	e.enc = msgpack.NewEncoder(&e.buf)
	e.enc.UseCompactInts(true)
	e.rindex = make(map[replicaRef]int)
	e.tindex = make(map[string]int)
}

// replica returns the index of ref in the replica table, adding it.
func (e *stateEncoder) replica(ref replicaRef) int {
	i, ok := e.rindex[ref]
	if !ok {
		i = len(e.replicas)
		e.rindex[ref] = i
		e.replicas = append(e.replicas, ref)
	}
	return i
}

// collect fills the replica and topic tables.
func (e *stateEncoder) collect(clouds dotClouds, values map[tag]*value) {
	for ref, c := range clouds {
		if len(c) > 0 {
			e.replica(ref)
		}
	}
	for _, v := range values {
		e.replica(v.tag.replica)
		if _, ok := e.tindex[v.topic]; !ok {
			e.tindex[v.topic] = len(e.topics)
			e.topics = append(e.topics, v.topic)
		}
	}
}

// check records the first error.
func (e *stateEncoder) check(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *stateEncoder) header(kind, fields int) {
	e.check(e.enc.EncodeArrayLen(fields))
	e.check(e.enc.EncodeUint(stateCodecVersion))
	e.check(e.enc.EncodeUint(uint64(kind)))
	e.check(e.enc.EncodeArrayLen(len(e.replicas)))
	for _, ref := range e.replicas {
		e.check(e.enc.EncodeArrayLen(2))
		e.check(e.enc.EncodeString(ref.Name))
		e.check(e.enc.EncodeUint(ref.Vsn))
	}
}

func (e *stateEncoder) clock(c causalContext) {
	e.check(e.enc.EncodeArrayLen(2 * len(c)))
	for ref, clock := range c {
		e.check(e.enc.EncodeUint(uint64(e.replica(ref))))
		e.check(e.enc.EncodeUint(clock))
	}
}

func (e *stateEncoder) finish(clouds dotClouds, values map[tag]*value) ([]byte, error) {
	n := 0
	for _, c := range clouds {
		if len(c) > 0 {
			n++
		}
	}
	e.check(e.enc.EncodeArrayLen(n))
	for ref, c := range clouds {
		if len(c) == 0 {
			continue
		}
		e.check(e.enc.EncodeArrayLen(2))
		e.check(e.enc.EncodeUint(uint64(e.rindex[ref])))
		e.check(e.enc.EncodeArrayLen(len(c)))
		for clock := range c {
			e.check(e.enc.EncodeUint(clock))
		}
	}
	e.check(e.enc.EncodeArrayLen(len(e.topics)))
	for _, t := range e.topics {
		e.check(e.enc.EncodeString(t))
	}
	e.check(e.enc.EncodeArrayLen(len(values)))
	for _, v := range values {
		e.check(e.enc.EncodeArrayLen(6))
		e.check(e.enc.EncodeUint(uint64(e.rindex[v.tag.replica])))
		e.check(e.enc.EncodeUint(v.tag.clock))
		e.check(e.enc.EncodeUint(uint64(e.tindex[v.topic])))
		e.check(e.enc.EncodeString(v.owner))
		e.check(e.enc.EncodeString(v.key))
		e.check(encodeValueMeta(e.enc, v))
	}
	if e.err != nil {
		return nil, fmt.Errorf("tracker: encoding state payload: %w", e.err)
	}
	return e.buf.Bytes(), nil
}

func encodeMeta(enc *msgpack.Encoder, meta map[string]any) error {
	if meta == nil {
		return enc.EncodeNil()
	}
	if err := enc.EncodeMapLen(len(meta)); err != nil {
		return err
	}
	for k, v := range meta {
		if err := enc.EncodeString(k); err != nil {
			return err
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

// encodeValueMeta writes a value's meta as users see it (the entries and the refs, rendered), the same
// bytes as the map renderMeta returns would give (key order aside): nil when it has no key.
func encodeValueMeta(enc *msgpack.Encoder, v *value) error {
	n := v.metaLen()
	if n == 0 {
		return enc.EncodeNil()
	}
	if err := enc.EncodeMapLen(n); err != nil {
		return err
	}
	for i, k := range v.meta.keys() {
		if err := enc.EncodeString(k); err != nil {
			return err
		}
		if err := enc.Encode(v.meta.val(i)); err != nil {
			return err
		}
	}
	if v.ref.ok {
		if err := enc.EncodeString(MetaRef); err != nil {
			return err
		}
		return enc.EncodeString(v.ref.String())
	}
	return nil
}

// stateDecoder reads one payload, checking every declared length against the bytes left.
type stateDecoder struct {
	buf      []byte // the payload, which r reads
	r        *bytes.Reader
	d        *msgpack.Decoder
	replicas []replicaRef
	topics   []string
	metaKeys map[string]string // interned meta keys: values of one payload share them
	metaVals map[string]any    // interned short string values, boxed
	entries  metaEntries       // scratch for valueMeta
	sbuf     []byte            // scratch for short strings
	lastRef  refID             // valueMeta: the last "phx_ref" parsed, its entry's value parsedRef{}
	owner    string            // the owner of the value before: values of one owner share its string
	// prevMeta is, when the meta valueMeta read last ended with a canonical "phx_ref" entry, its bytes
	// before that entry (a slice of buf), and prevBox what they decoded to: a meta with the same bytes
	// before a canonical ref shares the box without being decoded again (valueMeta).
	prevMeta []byte
	prevBox  metaData
}

// refEntryHead is how a meta's "phx_ref" entry in the canonical format starts: the key as a fixstr, then
// the header of a 16-byte fixstr, which the ref's characters follow.
const refEntryHead = "\xa7" + MetaRef + "\xb0"

// maxPrealloc caps what a declared length may preallocate in meta; longer arrays and maps grow as read.
const maxPrealloc = 1024

// maxInternedKeys caps the meta keys interned per payload.
const maxInternedKeys = 1024

// begin reads the header and the replica table of a payload of the given kind.
func (sd *stateDecoder) begin(b []byte, kind int) error {
	sd.buf, sd.prevMeta, sd.prevBox = b, nil, metaData{}
	sd.r = bytes.NewReader(b)
	sd.d = msgpack.NewDecoder(sd.r)
	fields := 8
	switch kind {
	case payloadExtract:
		fields = 7
	case payloadPart:
		fields = 5
	}
	n, err := sd.arrayLen(1)
	if err != nil {
		return err
	}
	if n != fields {
		return fmt.Errorf("payload has %d fields, want %d", n, fields)
	}
	version, err := sd.d.DecodeUint64()
	if err != nil {
		return err
	}
	if version != stateCodecVersion {
		return fmt.Errorf("unsupported payload version %d", version)
	}
	k, err := sd.d.DecodeUint64()
	if err != nil {
		return err
	}
	if k != uint64(kind) {
		return fmt.Errorf("payload kind %d, want %d", k, kind)
	}
	n, err = sd.arrayLen(3)
	if err != nil {
		return err
	}
	sd.replicas = make([]replicaRef, 0, n)
	seen := make(map[replicaRef]struct{}, n)
	for range n {
		if err := sd.tuple(2); err != nil {
			return err
		}
		var ref replicaRef
		if ref.Name, err = sd.d.DecodeString(); err != nil {
			return err
		}
		if ref.Vsn, err = sd.d.DecodeUint64(); err != nil {
			return err
		}
		if ref.Name == "" {
			return errors.New("replica with an empty name")
		}
		if _, dup := seen[ref]; dup {
			return fmt.Errorf("duplicate replica %v", ref)
		}
		seen[ref] = struct{}{}
		sd.replicas = append(sd.replicas, ref)
	}
	return nil
}

// arrayLen reads an array header whose elements take at least minSize bytes each.
func (sd *stateDecoder) arrayLen(minSize int) (int, error) {
	n, err := sd.d.DecodeArrayLen()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, errors.New("nil where an array is required")
	}
	if n > sd.r.Len()/minSize {
		return 0, fmt.Errorf("array of %d elements in %d bytes", n, sd.r.Len())
	}
	return n, nil
}

// tuple reads the header of an array that must have exactly n elements.
func (sd *stateDecoder) tuple(n int) error {
	got, err := sd.d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("tuple of %d elements, want %d", got, n)
	}
	return nil
}

// replica reads a replica index.
func (sd *stateDecoder) replica() (replicaRef, error) {
	i, err := sd.d.DecodeUint64()
	if err != nil {
		return replicaRef{}, err
	}
	if i >= uint64(len(sd.replicas)) {
		return replicaRef{}, fmt.Errorf("replica index %d out of range", i)
	}
	return sd.replicas[i], nil
}

// dot reads a non-zero clock of a dot.
func (sd *stateDecoder) dot() (uint64, error) {
	c, err := sd.d.DecodeUint64()
	if err == nil && c == 0 {
		err = errors.New("dot with clock 0")
	}
	return c, err
}

func (sd *stateDecoder) clock() (causalContext, error) {
	n, err := sd.arrayLen(1)
	if err != nil {
		return nil, err
	}
	if n%2 != 0 {
		return nil, errors.New("odd clock array")
	}
	c := make(causalContext, n/2)
	for range n / 2 {
		ref, err := sd.replica()
		if err != nil {
			return nil, err
		}
		clock, err := sd.d.DecodeUint64()
		if err != nil {
			return nil, err
		}
		if _, dup := c[ref]; dup {
			return nil, fmt.Errorf("duplicate clock for %v", ref)
		}
		c[ref] = clock
	}
	return c, nil
}

// clouds reads the clouds; with a context (extracts), every cloud must belong to a replica of the context and
// lie above its clock.
func (sd *stateDecoder) clouds(ctx causalContext) (dotClouds, error) {
	n, err := sd.arrayLen(3)
	if err != nil {
		return nil, err
	}
	clouds := make(dotClouds, n)
	for range n {
		if err := sd.tuple(2); err != nil {
			return nil, err
		}
		ref, err := sd.replica()
		if err != nil {
			return nil, err
		}
		if _, dup := clouds[ref]; dup {
			return nil, fmt.Errorf("duplicate cloud for %v", ref)
		}
		base, known := ctx[ref]
		if ctx != nil && !known {
			return nil, fmt.Errorf("cloud of %v outside the context", ref)
		}
		m, err := sd.arrayLen(1)
		if err != nil {
			return nil, err
		}
		cloud := make(dotCloud, m)
		for range m {
			c, err := sd.dot()
			if err != nil {
				return nil, err
			}
			if _, dup := cloud[c]; dup {
				return nil, fmt.Errorf("duplicate dot %v@%d", ref, c)
			}
			if ctx != nil && c <= base {
				return nil, fmt.Errorf("cloud dot %v@%d within the context", ref, c)
			}
			cloud[c] = struct{}{}
		}
		if m > 0 {
			clouds[ref] = cloud
		}
	}
	return clouds, nil
}

// values reads the topic table and the values, calling check on each tag.
func (sd *stateDecoder) values(check func(tag) error) (map[tag]*value, error) {
	var values map[tag]*value
	err := sd.eachValue(func(n int) { values = make(map[tag]*value, n) }, func(v *value) error {
		if _, dup := values[v.tag]; dup {
			return fmt.Errorf("duplicate tag %v@%d", v.tag.replica, v.tag.clock)
		}
		if err := check(v.tag); err != nil {
			return err
		}
		values[v.tag] = v
		return nil
	})
	return values, err
}

// eachValue reads the topic table and the values: size is called with the number of values once it is
// known (and checked against the bytes left), add with each value.
func (sd *stateDecoder) eachValue(size func(int), add func(*value) error) error {
	n, err := sd.arrayLen(1)
	if err != nil {
		return err
	}
	sd.topics = make([]string, 0, n)
	seen := make(map[string]struct{}, n)
	for range n {
		t, err := sd.d.DecodeString()
		if err != nil {
			return err
		}
		if _, dup := seen[t]; dup {
			return fmt.Errorf("duplicate topic %q", t)
		}
		seen[t] = struct{}{}
		sd.topics = append(sd.topics, t)
	}
	n, err = sd.arrayLen(7)
	if err != nil {
		return err
	}
	size(n)
	for range n {
		v := &value{}
		if !sd.valueHead(v) { // not in the usual encodings: the decoder reads it, with its errors
			if err := sd.valueHeadSlow(v); err != nil {
				return err
			}
		}
		if v.meta, v.ref, err = sd.valueMeta(); err != nil {
			return err
		}
		if err := add(v); err != nil {
			return err
		}
	}
	return nil
}

// end checks that the whole payload was read.
func (sd *stateDecoder) end() error {
	if sd.r.Len() != 0 {
		return fmt.Errorf("%d trailing bytes", sd.r.Len())
	}
	return nil
}

// meta reads a value's meta: nil or a map with string keys.
func (sd *stateDecoder) meta() (map[string]any, error) {
	c, err := sd.d.PeekCode()
	if err != nil {
		return nil, err
	}
	if c == msgpcode.Nil {
		return nil, sd.d.DecodeNil()
	}
	return sd.metaMap(1)
}

// valueMeta reads a value's meta (nil or a map with string keys) as the value holds it: the entries, sorted
// (of a key given twice, the last, as a map would keep), and the ref split off by splitRef's rule, in place.
func (sd *stateDecoder) valueMeta() (metaData, refID, error) {
	start := sd.pos()
	if md, ref, ok := sd.sameMetaAsBefore(start); ok {
		return md, ref, nil
	}
	sd.prevMeta = nil
	c, err := sd.d.PeekCode()
	if err != nil {
		return metaData{}, refID{}, err
	}
	if c == msgpcode.Nil {
		return metaData{}, refID{}, sd.d.DecodeNil()
	}
	n, err := sd.d.DecodeMapLen()
	if err != nil {
		return metaData{}, refID{}, err
	}
	if n < 0 || n > sd.r.Len()/2 {
		return metaData{}, refID{}, fmt.Errorf("bad map length %d", n)
	}
	// The entries are gathered in the decoder's scratch slice: packMeta copies the values out.
	md := sd.entries[:0]
	defer func() { clear(md); sd.entries = md[:0] }()
	var ref refID
	lastEntry := 0
	for range n {
		lastEntry = sd.pos()
		c, err := sd.d.PeekCode()
		if err != nil {
			return metaData{}, refID{}, err
		}
		if !msgpcode.IsString(c) {
			return metaData{}, refID{}, fmt.Errorf("map key of type %#x, want a string", c)
		}
		k, err := sd.key()
		if err != nil {
			return metaData{}, refID{}, err
		}
		var v any
		if k == MetaRef {
			var r refID
			if r, v, err = sd.refValue(); r.ok {
				sd.lastRef = r
			}
		} else {
			v, err = sd.scalarOrValue()
		}
		if err != nil {
			return metaData{}, refID{}, err
		}
		md = append(md, metaEntry{k, v})
	}
	md = sortMetaData(md) // of a key given twice, the last
	if i, ok := slices.BinarySearchFunc(md, MetaRef, func(e metaEntry, k string) int { return cmp.Compare(e.key, k) }); ok {
		ref = refID{}
		switch x := md[i].val.(type) {
		case parsedRef:
			ref = sd.lastRef
			md = slices.Delete(md, i, i+1)
		case string: // a ref in a longer string encoding than the usual fixstr
			if r, ok := parseRef(x); ok {
				ref = r
				md = slices.Delete(md, i, i+1)
			}
		}
	}
	m := packMeta(md)
	if end := sd.pos(); ref.ok && end-lastEntry == len(refEntryHead)+refLen && string(sd.buf[lastEntry:lastEntry+len(refEntryHead)]) == refEntryHead {
		sd.prevMeta, sd.prevBox = sd.buf[start:lastEntry], m
	}
	return m, ref, nil
}

// pos returns the position of the next byte to read.
func (sd *stateDecoder) pos() int { return len(sd.buf) - sd.r.Len() }

// sameMetaAsBefore reads, when the meta at start has prevMeta's bytes then a canonical "phx_ref" entry,
// that meta: prevBox and the ref. Decoding it would give the same entries, so the same box serves.
func (sd *stateDecoder) sameMetaAsBefore(start int) (metaData, refID, bool) {
	p := len(sd.prevMeta)
	rest := sd.buf[start:]
	if p == 0 || len(rest) < p+len(refEntryHead)+refLen || !bytes.Equal(rest[:p], sd.prevMeta) ||
		string(rest[p:p+len(refEntryHead)]) != refEntryHead {
		return metaData{}, refID{}, false
	}
	ref, ok := parseRefBytes(rest[p+len(refEntryHead) : p+len(refEntryHead)+refLen])
	if !ok {
		return metaData{}, refID{}, false
	}
	if _, err := sd.r.Seek(int64(p+len(refEntryHead)+refLen), io.SeekCurrent); err != nil {
		return metaData{}, refID{}, false
	}
	return sd.prevBox, ref, true
}

// valueHeadSlow reads a value's tuple header and its fields before its meta with the msgpack decoder.
func (sd *stateDecoder) valueHeadSlow(v *value) error {
	if err := sd.tuple(6); err != nil {
		return err
	}
	var err error
	if v.tag.replica, err = sd.replica(); err != nil {
		return err
	}
	if v.tag.clock, err = sd.dot(); err != nil {
		return err
	}
	ti, err := sd.d.DecodeUint64()
	if err != nil {
		return err
	}
	if ti >= uint64(len(sd.topics)) {
		return fmt.Errorf("topic index %d out of range", ti)
	}
	v.topic = sd.topics[ti]
	if v.owner, err = sd.ownerString(); err != nil {
		return err
	}
	v.key, err = sd.d.DecodeString()
	return err
}

// ownerString reads a value's owner, reusing the string of the value before when it is the same owner
// (values come grouped by replica and clock, and an owner's tracks are often one after another).
func (sd *stateDecoder) ownerString() (string, error) {
	c, err := sd.d.PeekCode()
	if err != nil {
		return "", err
	}
	if !msgpcode.IsString(c) {
		return sd.d.DecodeString() // its error, or a bin's bytes, as before
	}
	n, err := sd.d.DecodeBytesLen()
	if err != nil {
		return "", err
	}
	if n < 0 || n > sd.r.Len() {
		return "", fmt.Errorf("string of %d bytes in %d", n, sd.r.Len())
	}
	if n > maxInternedLen {
		return sd.longString(n)
	}
	b := sd.scratch(n)
	if err := sd.d.ReadFull(b); err != nil {
		return "", err
	}
	if string(b) != sd.owner {
		sd.owner = string(b)
	}
	return sd.owner, nil
}

// parsedRef stands, in valueMeta's entries, for a "phx_ref" in the canonical format, parsed into a refID.
type parsedRef struct{}

// refValue reads the value of a "phx_ref" key: a ref in the canonical format is parsed from the payload's
// bytes (no string made) and returned with the value parsedRef{}; anything else is read by metaValue, as
// splitRef would leave it.
func (sd *stateDecoder) refValue() (refID, any, error) {
	c, err := sd.d.PeekCode()
	if err != nil {
		return refID{}, nil, err
	}
	if c != msgpcode.FixedStrLow|16 {
		v, err := sd.metaValue(1)
		return refID{}, v, err
	}
	if _, err := sd.d.DecodeBytesLen(); err != nil {
		return refID{}, nil, err
	}
	b := sd.scratch(16)
	if err := sd.d.ReadFull(b); err != nil {
		return refID{}, nil, err
	}
	if r, ok := parseRefBytes(b); ok {
		return r, parsedRef{}, nil
	}
	return refID{}, string(b), nil
}

// maxInternedLen is the length up to which meta keys and string values are interned per payload.
const maxInternedLen = 64

// key reads a meta key (a string: the caller checked) as the payload's interned copy, allocating only
// for a key not seen before in the payload.
func (sd *stateDecoder) key() (string, error) {
	n, err := sd.d.DecodeBytesLen()
	if err != nil {
		return "", err
	}
	if n < 0 || n > sd.r.Len() {
		return "", fmt.Errorf("string of %d bytes in %d", n, sd.r.Len())
	}
	if n > maxInternedLen {
		return sd.longString(n)
	}
	b := sd.scratch(n)
	if err := sd.d.ReadFull(b); err != nil {
		return "", err
	}
	if k, ok := sd.metaKeys[string(b)]; ok {
		return k, nil
	}
	return sd.internKey(string(b)), nil
}

// scratch returns the decoder's scratch buffer, n bytes long (n ≤ maxInternedLen).
func (sd *stateDecoder) scratch(n int) []byte {
	if sd.sbuf == nil {
		sd.sbuf = make([]byte, maxInternedLen)
	}
	return sd.sbuf[:n]
}

// longString reads a string of n bytes (its header read, n checked against the bytes left).
func (sd *stateDecoder) longString(n int) (string, error) {
	b := make([]byte, n)
	if err := sd.d.ReadFull(b); err != nil {
		return "", err
	}
	return unsafe.String(unsafe.SliceData(b), n), nil
}

// scalarOrValue reads a meta value at the top of a value's meta: a short string is the payload's
// interned one (the values of a payload share "online", "web"... as the keys do), boxed once; anything
// else is read by metaValue.
func (sd *stateDecoder) scalarOrValue() (any, error) {
	c, err := sd.d.PeekCode()
	if err != nil {
		return nil, err
	}
	if !msgpcode.IsString(c) {
		return sd.metaValue(1)
	}
	n, err := sd.d.DecodeBytesLen()
	if err != nil {
		return nil, err
	}
	if n < 0 || n > sd.r.Len() {
		return nil, fmt.Errorf("string of %d bytes in %d", n, sd.r.Len())
	}
	if n > maxInternedLen {
		return sd.longString(n)
	}
	b := sd.scratch(n)
	if err := sd.d.ReadFull(b); err != nil {
		return nil, err
	}
	if v, ok := sd.metaVals[string(b)]; ok {
		return v, nil
	}
	var v any = string(b)
	if sd.metaVals == nil {
		sd.metaVals = make(map[string]any)
	}
	if len(sd.metaVals) < maxInternedKeys {
		sd.metaVals[v.(string)] = v
	}
	return v, nil
}

func (sd *stateDecoder) metaMap(depth int) (map[string]any, error) {
	n, err := sd.d.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	if n < 0 || n > sd.r.Len()/2 {
		return nil, fmt.Errorf("bad map length %d", n)
	}
	m := make(map[string]any, min(n, maxPrealloc))
	for range n {
		c, err := sd.d.PeekCode()
		if err != nil {
			return nil, err
		}
		if !msgpcode.IsString(c) {
			return nil, fmt.Errorf("map key of type %#x, want a string", c)
		}
		k, err := sd.d.DecodeString()
		if err != nil {
			return nil, err
		}
		if m[sd.internKey(k)], err = sd.metaValue(depth); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// internKey returns the payload's copy of a meta key.
func (sd *stateDecoder) internKey(k string) string {
	if ik, ok := sd.metaKeys[k]; ok {
		return ik
	}
	if sd.metaKeys == nil {
		sd.metaKeys = make(map[string]string)
	}
	if len(sd.metaKeys) < maxInternedKeys {
		sd.metaKeys[k] = k
	}
	return k
}

// metaValue reads one meta value and normalises its type.
func (sd *stateDecoder) metaValue(depth int) (any, error) {
	if depth > maxMetaDepth {
		return nil, errors.New("meta nested too deep")
	}
	c, err := sd.d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, sd.d.DecodeNil()
	case c == msgpcode.False || c == msgpcode.True:
		return sd.d.DecodeBool()
	case c == msgpcode.Uint64:
		u, err := sd.d.DecodeUint64()
		if err != nil || u > math.MaxInt64 {
			return u, err
		}
		return int64(u), nil
	case msgpcode.IsFixedNum(c), c >= msgpcode.Uint8 && c <= msgpcode.Uint32, c >= msgpcode.Int8 && c <= msgpcode.Int64:
		return sd.d.DecodeInt64()
	case c == msgpcode.Float || c == msgpcode.Double:
		return sd.d.DecodeFloat64()
	case msgpcode.IsString(c):
		return sd.d.DecodeString()
	case msgpcode.IsBin(c):
		return sd.d.DecodeBytes()
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := sd.arrayLen(1)
		if err != nil {
			return nil, err
		}
		a := make([]any, 0, min(n, maxPrealloc))
		for range n {
			v, err := sd.metaValue(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		return sd.metaMap(depth + 1)
	case msgpcode.IsExt(c):
		return sd.timestamp()
	}
	return nil, fmt.Errorf("unsupported meta value code %#x", c)
}

// timestamp reads a msgpack timestamp extension (type -1); other extensions are rejected.
func (sd *stateDecoder) timestamp() (time.Time, error) {
	id, n, err := sd.d.DecodeExtHeader()
	if err != nil {
		return time.Time{}, err
	}
	if id != -1 || (n != 4 && n != 8 && n != 12) {
		return time.Time{}, fmt.Errorf("unsupported extension %d of %d bytes", id, n)
	}
	var b [12]byte
	if err := sd.d.ReadFull(b[:n]); err != nil {
		return time.Time{}, err
	}
	var sec int64
	var nsec uint64
	switch n {
	case 4:
		sec = int64(binary.BigEndian.Uint32(b[:4]))
	case 8:
		data := binary.BigEndian.Uint64(b[:8])
		nsec, sec = data>>34, int64(data&(1<<34-1))
	case 12:
		nsec, sec = uint64(binary.BigEndian.Uint32(b[:4])), int64(binary.BigEndian.Uint64(b[4:]))
	}
	if nsec >= 1e9 {
		return time.Time{}, errors.New("timestamp with nanoseconds out of range")
	}
	return time.Unix(sec, int64(nsec)).UTC(), nil
}
