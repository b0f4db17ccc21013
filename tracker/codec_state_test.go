package tracker

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

type metaStruct struct {
	Name string
	N    int
}

func richMeta() map[string]any {
	return map[string]any{
		"int": 5, "neg": int8(-3), "big": uint64(math.MaxUint64), "i64": int64(math.MinInt64),
		"f32": float32(1.5), "f64": 2.25, "s": "x", "b": []byte{1, 2}, "nil": nil, "t": true,
		"time":   time.Unix(1700000000, 123456789).In(time.FixedZone("x", 3600)),
		"nested": map[string]any{"l": []string{"a", "b"}, "m": map[string]int{"k": 1}},
		"struct": metaStruct{Name: "n", N: 2},
	}
}

func TestNormalizeMeta(t *testing.T) {
	got, err := normalizeMeta(richMeta())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"int": int64(5), "neg": int64(-3), "big": uint64(math.MaxUint64), "i64": int64(math.MinInt64),
		"f32": float64(1.5), "f64": 2.25, "s": "x", "b": []byte{1, 2}, "nil": nil, "t": true,
		"time":   time.Unix(1700000000, 123456789).UTC(),
		"nested": map[string]any{"l": []any{"a", "b"}, "m": map[string]any{"k": int64(1)}},
		"struct": map[string]any{"Name": "n", "N": int64(2)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("normalizeMeta:\n got %#v\nwant %#v", got, want)
	}
	if m, err := normalizeMeta(nil); err != nil || m != nil {
		t.Fatal("nil meta")
	}
	if m, err := normalizeMeta(map[string]any{}); err != nil || m == nil || len(m) != 0 {
		t.Fatal("empty meta")
	}
	for name, bad := range map[string]any{
		"int keys": map[int]string{1: "a"},
		"chan":     make(chan int),
		"deep":     deepMeta(maxMetaDepth + 1),
	} {
		if _, err := normalizeMeta(map[string]any{"v": bad}); err == nil {
			t.Errorf("%s: normalizeMeta accepted it", name)
		}
	}
	if _, err := normalizeMeta(map[string]any{"v": deepMeta(maxMetaDepth - 1)}); err != nil {
		t.Errorf("meta at the depth limit: %v", err)
	}
}

func deepMeta(depth int) any {
	var v any = "leaf"
	for range depth {
		v = []any{v}
	}
	return v
}

// testDelta returns a delta with a value of every kind of part: own values, a remote replica's value, tombstones.
func richDelta(t testing.TB) *delta {
	a, b, c := newNamedState("a"), newNamedState("b"), newNamedState("c")
	for _, s := range []*state{a, b, c} {
		for _, r := range []*state{a, b, c} {
			s.replicaUp(r.ref())
		}
	}
	meta, err := normalizeMeta(richMeta())
	if err != nil {
		t.Fatal(err)
	}
	b.join("lobby", "ob", "kb", nil)
	c.join("lobby", "oc", "kc", nil)
	a.mergeDelta(c.takeDelta())
	a.join("lobby", "o1", "k1", meta)
	a.join("other", "o1", "k1", map[string]any{})
	a.join("lobby", "o2", "k2", nil)
	a.leave("lobby", "o2", "k2")
	c.leaveOwner("oc")
	a.mergeDelta(c.takeDelta()) // tombstone of c's value in a's delta
	d, err := mergeDeltas(a.takeDelta(), b.takeDelta())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDeltaCodecRoundTrip(t *testing.T) {
	for name, d := range map[string]*delta{"rich": richDelta(t), "empty": newNamedState("e").delta} {
		t.Run(name, func(t *testing.T) {
			b, err := marshalDelta(d)
			if err != nil {
				t.Fatal(err)
			}
			got, err := unmarshalDelta(b)
			if err != nil {
				t.Fatal(err)
			}
			if deltaString(got) != deltaString(d) {
				t.Fatalf("round trip:\n%s\n%s", deltaString(d), deltaString(got))
			}
			for tg, v := range got.values {
				if !reflect.DeepEqual(v.renderMeta(), d.values[tg].renderMeta()) {
					t.Fatalf("meta: %#v != %#v", v.renderMeta(), d.values[tg].renderMeta())
				}
			}
			if _, err := unmarshalExtract(b); !errors.Is(err, errInvalidPayload) {
				t.Fatalf("a delta decoded as an extract: %v", err)
			}
		})
	}
}

func TestExtractCodecRoundTrip(t *testing.T) {
	a, b, c := newNamedState("a"), newNamedState("b"), newNamedState("c")
	upAll(t, a, b, c)
	meta, _ := normalizeMeta(richMeta())
	mustJoinState(t, b, "t", "ob", "kb", meta)
	mustJoinState(t, c, "t", "oc", "kc1", nil)
	lost := c.takeDelta()
	mustJoinState(t, c, "t", "oc", "kc2", nil)
	a.mergeDelta(c.takeDelta()) // a has a cloud for c
	transferFull(a, b)
	_ = lost
	x := a.extract(c.ref(), causalContext{a.ref(): 0, b.ref(): 0, c.ref(): 0})
	if len(x.clouds[c.ref()]) != 1 {
		t.Fatal("setup: want a cloud")
	}
	bs, err := marshalExtract(x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshalExtract(bs)
	if err != nil {
		t.Fatal(err)
	}
	if ctxString(got.context) != ctxString(x.context) || len(got.values) != len(x.values) || len(got.clouds) != 1 {
		t.Fatalf("round trip: %v %v", got.context, got.values)
	}
	// merging the decoded extract is the same as merging the original
	d1, d2 := newNamedState("d"), newNamedState("d")
	upAll(t, d1, a, b, c)
	upAll(t, d2, a, b, c)
	d1.mergeExtract(x)
	d2.mergeExtract(got)
	if fullState(d1) != fullState(d2) {
		t.Fatalf("decoded extract merges differently:\n%s\n%s", fullState(d1), fullState(d2))
	}
	if _, err := unmarshalDelta(bs); !errors.Is(err, errInvalidPayload) {
		t.Fatal("an extract decoded as a delta")
	}
}

// payload encodes a structure of []any, strings and ints as msgpack.
func mpPayload(t testing.TB, v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type mpList = []any

func validDeltaParts() mpList {
	return mpList{
		1, 1,
		mpList{mpList{"a", 1}, mpList{"b", 1}}, // replicas
		mpList{0, 0},                           // start
		mpList{0, 2},                           // end
		mpList{mpList{0, mpList{1, 2}}, mpList{1, mpList{5}}}, // clouds: a's dots and a tombstone of b's
		mpList{"t"}, // topics
		mpList{mpList{0, 1, 0, "o", "k", map[string]any{"x": 1}}}, // values
	}
}

func validExtractParts() mpList {
	return mpList{
		1, 2,
		mpList{mpList{"a", 1}, mpList{"b", 1}},
		mpList{0, 3, 1, 0},              // context
		mpList{mpList{0, mpList{5, 7}}}, // clouds above the context
		mpList{"t"},
		mpList{mpList{0, 3, 0, "o", "k", nil}, mpList{0, 7, 0, "o", "k2", nil}},
	}
}

func TestUnmarshalDeltaRejects(t *testing.T) {
	if _, err := unmarshalDelta(mpPayload(t, validDeltaParts())); err != nil {
		t.Fatalf("valid payload rejected: %v", err)
	}
	set := func(path []int, v any) []byte {
		p := validDeltaParts()
		var cur mpList = p
		for _, i := range path[:len(path)-1] {
			cur = cur[i].(mpList)
		}
		cur[path[len(path)-1]] = v
		return mpPayload(t, p)
	}
	valid := mpPayload(t, validDeltaParts())
	tests := map[string][]byte{
		"empty":                        nil,
		"not an array":                 mpPayload(t, "x"),
		"truncated":                    valid[:len(valid)-3],
		"trailing bytes":               append(append([]byte(nil), valid...), 0xc0),
		"few fields":                   mpPayload(t, validDeltaParts()[:7]),
		"version":                      set([]int{0}, 2),
		"kind":                         set([]int{1}, 2),
		"replicas nil":                 set([]int{2}, nil),
		"empty replica name":           set([]int{2, 0, 0}, ""),
		"duplicate replica":            set([]int{2, 1}, mpList{"a", 1}),
		"replica not a pair":           set([]int{2, 1}, mpList{"b"}),
		"replica index":                set([]int{3}, mpList{7, 0}),
		"odd clock":                    set([]int{3}, mpList{0}),
		"duplicate clock":              set([]int{4}, mpList{0, 2, 0, 3}),
		"start after end":              set([]int{3}, mpList{0, 3}),
		"range replicas":               set([]int{4}, mpList{1, 2}),
		"cloud dot 0":                  set([]int{5, 0, 1}, mpList{0, 1}),
		"duplicate dot":                set([]int{5, 0, 1}, mpList{1, 1}),
		"duplicate cloud":              set([]int{5, 1}, mpList{0, mpList{3}}),
		"duplicate topic":              set([]int{6}, mpList{"t", "t"}),
		"topic index":                  set([]int{7, 0, 2}, 1),
		"value clock 0":                set([]int{7, 0, 1}, 0),
		"value out of range":           set([]int{7, 0, 1}, 3),
		"value not in cloud":           set([]int{5, 0, 1}, mpList{2}),
		"value of a tombstone replica": set([]int{7, 0, 0}, 1),
		"duplicate tag":                set([]int{7}, mpList{mpList{0, 1, 0, "o", "k", nil}, mpList{0, 1, 0, "o", "k2", nil}}),
		"value tuple":                  set([]int{7, 0}, mpList{0, 1, 0, "o", "k"}),
		"meta int keys":                set([]int{7, 0, 5}, map[int]any{1: 1}),
		"meta not map":                 set([]int{7, 0, 5}, "m"),
		"meta ext":                     set([]int{7, 0, 5}, map[string]any{"d": msgpack.RawMessage{0xd4, 5, 0}}),
		"owner not str":                set([]int{7, 0, 3}, 5),
		"huge array":                   {0x98, 1, 1, 0xdd, 0x7f, 0xff, 0xff, 0xff},
		"huge map meta":                set([]int{7, 0, 5}, msgpack.RawMessage{0xdf, 0x7f, 0xff, 0xff, 0xff}),
		"huge string":                  set([]int{6, 0}, msgpack.RawMessage{0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'}),
		"deep meta":                    set([]int{7, 0, 5}, map[string]any{"d": deepMeta(maxMetaDepth + 5)}),
	}
	for name, b := range tests {
		if _, err := unmarshalDelta(b); !errors.Is(err, errInvalidPayload) {
			t.Errorf("%s: err = %v, want errInvalidPayload", name, err)
		}
	}
}

func TestUnmarshalExtractRejects(t *testing.T) {
	if _, err := unmarshalExtract(mpPayload(t, validExtractParts())); err != nil {
		t.Fatalf("valid payload rejected: %v", err)
	}
	set := func(path []int, v any) []byte {
		p := validExtractParts()
		var cur mpList = p
		for _, i := range path[:len(path)-1] {
			cur = cur[i].(mpList)
		}
		cur[path[len(path)-1]] = v
		return mpPayload(t, p)
	}
	tests := map[string][]byte{
		"cloud outside the context": set([]int{3}, mpList{1, 0}),
		"cloud dot within context":  set([]int{4, 0, 1}, mpList{3, 7}),
		"value outside the context": set([]int{6, 0, 0}, 1),
		"value not seen":            set([]int{6, 0, 1}, 6),
		"fields":                    mpPayload(t, append(validExtractParts(), 1)),
	}
	for name, b := range tests {
		if _, err := unmarshalExtract(b); !errors.Is(err, errInvalidPayload) {
			t.Errorf("%s: err = %v, want errInvalidPayload", name, err)
		}
	}
}

func TestMarshalRejectsBadMeta(t *testing.T) {
	a := newNamedState("a")
	a.join("t", "o", "k", map[string]any{"c": make(chan int)})
	if _, err := marshalDelta(a.delta); err == nil {
		t.Fatal("marshal of a channel succeeded")
	}
}

// fuzzSeeds are valid encodings the fuzz targets start from (besides testdata/fuzz).
func fuzzSeeds(f *testing.F) (deltas, extracts [][]byte) {
	d := richDelta(f)
	b, err := marshalDelta(d)
	if err != nil {
		f.Fatal(err)
	}
	deltas = append(deltas, b, mpPayload(f, validDeltaParts()))
	extracts = append(extracts, mpPayload(f, validExtractParts()))
	return deltas, extracts
}

// checkDecodedDelta checks what a successful decode promises: it re-encodes to an equal delta and merges
// into a state without breaking it.
func checkDecodedDelta(t *testing.T, d *delta) {
	b, err := marshalDelta(d)
	if err != nil {
		t.Fatalf("re-encoding a decoded delta: %v", err)
	}
	again, err := unmarshalDelta(b)
	if err != nil {
		t.Fatalf("decoding a re-encoded delta: %v", err)
	}
	if deltaString(again) != deltaString(d) {
		t.Fatalf("round trip changed the delta")
	}
	s := newNamedState("fuzz")
	for ref := range d.end {
		s.replicaUp(ref)
	}
	s.mergeDelta(d)
	s.mergeDelta(d)
	checkIndexes(t, s)
	g := newDeltaGenerations([]int{2, 4, 8})
	g.push(s, d)
	g.push(s, again)
}

func FuzzUnmarshalDelta(f *testing.F) {
	deltas, extracts := fuzzSeeds(f)
	for _, b := range append(deltas, extracts...) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := unmarshalDelta(b)
		if err != nil {
			if !errors.Is(err, errInvalidPayload) {
				t.Fatalf("error does not wrap errInvalidPayload: %v", err)
			}
			return
		}
		checkDecodedDelta(t, d)
	})
}

func FuzzUnmarshalExtract(f *testing.F) {
	deltas, extracts := fuzzSeeds(f)
	for _, b := range append(extracts, deltas...) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := unmarshalExtract(b)
		if err != nil {
			if !errors.Is(err, errInvalidPayload) {
				t.Fatalf("error does not wrap errInvalidPayload: %v", err)
			}
			return
		}
		again, err := marshalExtract(x)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unmarshalExtract(again); err != nil {
			t.Fatalf("decoding a re-encoded extract: %v", err)
		}
		s := newNamedState("fuzz")
		for ref := range x.context {
			s.replicaUp(ref)
		}
		s.mergeExtract(x)
		before := fullState(s)
		if joins, leaves := s.mergeExtract(x); len(joins)+len(leaves) != 0 || fullState(s) != before {
			t.Fatal("merging a decoded extract twice is not idempotent")
		}
		checkIndexes(t, s)
	})
}

func TestEncodingIsCompact(t *testing.T) {
	a := newNamedState("node-a")
	for i := range 100 {
		a.join("room:lobby", "owner-"+string(rune('a'+i%26)), "user:"+string(rune('A'+i%26))+string(rune('0'+i/26)), map[string]any{"online_at": int64(1700000000 + i)})
	}
	b, err := marshalDelta(a.delta)
	if err != nil {
		t.Fatal(err)
	}
	if per := len(b) / 100; per > 48 {
		t.Fatalf("%d bytes per value", per)
	}
	if !bytes.Contains(b, []byte("room:lobby")) || bytes.Count(b, []byte("room:lobby")) != 1 {
		t.Fatal("topic not written once")
	}
}
