package tracker

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// A full state sent in parts decodes to the same values, in the sender's order (by replica, then clock),
// every part but the first within its budget.
func TestPartsRoundTrip(t *testing.T) {
	a := newNamedState("node-a")
	for i := range 500 {
		a.join(fmt.Sprint("room:", i%7), fmt.Sprint("owner-", i%13), fmt.Sprint("user:", i), map[string]any{"n": int64(i), "s": "online"})
	}
	x := a.extract(namedRef("node-b"), causalContext{a.ref(): 0})
	const budget = 2000
	parts := newExtractParts(x, budget)
	var got []*value
	for {
		body, kind, last, err := parts.nextPayload()
		if err != nil {
			t.Fatal(err)
		}
		if last {
			if kind != gossipTransferExtract {
				t.Fatalf("last payload of kind %d", kind)
			}
			fx, err := unmarshalExtract(body)
			if err != nil {
				t.Fatal(err)
			}
			if len(fx.values) != 0 || fx.context[a.ref()] != x.context[a.ref()] {
				t.Fatalf("final extract: %d values, context %v", len(fx.values), fx.context)
			}
			break
		}
		if kind != gossipTransferPart || len(body) > budget+64 {
			t.Fatalf("part of kind %d, %d bytes for a budget of %d", kind, len(body), budget)
		}
		values, err := unmarshalPart(body)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, values...)
	}
	if len(got) != len(x.values) {
		t.Fatalf("%d values in parts, %d in the extract", len(got), len(x.values))
	}
	for i, v := range got {
		w := x.values[v.tag]
		if w == nil || w.topic != v.topic || w.key != v.key || w.owner != v.owner || w.metaLen() != v.metaLen() {
			t.Fatalf("value %d: %+v, want %+v", i, v, w)
		}
		if i > 0 && got[i-1].tag.clock >= v.tag.clock {
			t.Fatalf("values out of order at %d", i)
		}
	}
}

// FuzzUnmarshalPart: any bytes decode to values or to an error wrapping errInvalidPayload, never a panic;
// what decodes re-encodes and decodes again to as many values.
func FuzzUnmarshalPart(f *testing.F) {
	a := newNamedState("node-a")
	for i := range 20 {
		a.join("room", "o", fmt.Sprint("k", i), map[string]any{"n": int64(i), "nested": map[string]any{"x": []any{1, "y"}}})
	}
	x := a.extract(namedRef("node-b"), causalContext{a.ref(): 0})
	parts := newExtractParts(x, 300)
	for {
		body, _, last, err := parts.nextPayload()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
		if last {
			break
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		values, err := unmarshalPart(b)
		if err != nil {
			if !errors.Is(err, errInvalidPayload) {
				t.Fatalf("error does not wrap errInvalidPayload: %v", err)
			}
			return
		}
		again, n, err := marshalPart(values, 1<<30)
		if err != nil || n != len(values) {
			if len(values) == 0 {
				return
			}
			t.Fatalf("re-encoding %d decoded values: %d, %v", len(values), n, err)
		}
		if back, err := unmarshalPart(again); err != nil || len(back) != len(values) {
			t.Fatalf("decoding re-encoded values: %d of %d, %v", len(back), len(values), err)
		}
	})
}

// FuzzChunkAndCredit: chunk and credit bodies decode or fail with an error, never a panic, and what
// decodes is within bounds and re-encodes to the same header.
func FuzzChunkAndCredit(f *testing.F) {
	for _, h := range []chunkHeader{{id: 1, seq: 0}, {id: 7, seq: 3, flags: chunkEndsMessage}, {id: 1 << 40, seq: 9, flags: chunkEndsMessage | chunkEndsStream}} {
		b, err := encodeChunkBody(h, []byte("data"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(mp(uint64(5), uint64(9)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, data, err := decodeChunkBody(b); err == nil {
			if h.seq < 0 || h.seq >= maxChunks || len(data) == 0 || h.flags == chunkEndsStream || h.flags > chunkEndsMessage|chunkEndsStream {
				t.Fatalf("decoded out of bounds: %+v, %d bytes", h, len(data))
			}
			again, err := encodeChunkBody(h, data)
			if err != nil {
				t.Fatal(err)
			}
			if h2, data2, err := decodeChunkBody(again); err != nil || h2 != h || !bytes.Equal(data2, data) {
				t.Fatalf("round trip: %+v %v", h2, err)
			}
		}
		if _, granted, err := decodeCredit(b); err == nil && (granted < 0 || granted > maxChunks) {
			t.Fatalf("credit %d", granted)
		}
	})
}
