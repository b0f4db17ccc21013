package tracker

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
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

// A transfer's extract of partsFrom values or more lists them without a map (extractForTransfer); its
// parts carry the same values, in the same order, as those of the extract with the map, and sent whole
// it encodes the same values.
func TestExtractForTransferListsValues(t *testing.T) {
	a := newNamedState("node-a")
	for i := range partsFrom + 100 {
		a.join(fmt.Sprint("room:", i%7), fmt.Sprint("owner-", i%13), fmt.Sprint("user:", i), map[string]any{"s": "online"})
	}
	b := namedRef("node-b")
	withMap, withList := a.extract(b, causalContext{a.ref(): 0}), a.extractForTransfer(b, causalContext{a.ref(): 0})
	if withList.values != nil || len(withList.list) != len(withMap.values) {
		t.Fatalf("extractForTransfer: %d values in a map, %d in the list; want 0 and %d", len(withList.values), len(withList.list), len(withMap.values))
	}
	pm, pl := newExtractParts(withMap, 4000), newExtractParts(withList, 4000)
	for {
		bm, _, lastM, err := pm.nextPayload()
		if err != nil {
			t.Fatal(err)
		}
		bl, _, lastL, err := pl.nextPayload()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bm, bl) || lastM != lastL {
			t.Fatal("the parts of the list differ from those of the map")
		}
		if lastM {
			break
		}
	}
	whole, err := marshalExtract(withList)
	if err != nil {
		t.Fatal(err)
	}
	fx, err := unmarshalExtract(whole)
	if err != nil || len(fx.values) != len(withMap.values) {
		t.Fatalf("the list sent whole: %d values (%v), want %d", len(fx.values), err, len(withMap.values))
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

// appendByClock orders a replica's values by clock, whether their clocks are dense (placed by clock) or
// sparse (sorted).
func TestAppendByClock(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, spread := range []uint64{1, 2, 3, 1000} {
		for _, n := range []int{1, 2, 50, 3000} {
			seen := make(map[uint64]bool)
			var cvs []clockedValue
			for len(cvs) < n {
				c := 1 + rng.Uint64N(uint64(n)*spread)
				if !seen[c] {
					seen[c] = true
					cvs = append(cvs, clockedValue{c, &value{tag: tag{clock: c}}})
				}
			}
			got := appendByClock([]*value{{}}, cvs) // after what was there
			if len(got) != n+1 {
				t.Fatalf("spread %d, n %d: %d values, want %d", spread, n, len(got)-1, n)
			}
			for i := 2; i < len(got); i++ {
				if got[i-1].tag.clock >= got[i].tag.clock {
					t.Fatalf("spread %d, n %d: out of order at %d", spread, n, i)
				}
			}
		}
	}
}
