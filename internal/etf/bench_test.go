package etf

import (
	"encoding/json"
	"testing"
)

// typical is a 10-key map as a Phoenix app broadcasts it: strings, integers, a float, a boolean, nil,
// a short list and a nested map.
func typical() map[string]any {
	return map[string]any{
		"id": int64(123456), "user": "alice", "body": "hello, world", "room": "room:lobby",
		"count": int64(42), "score": 0.75, "admin": false, "edited": nil,
		"tags": []any{"a", "b"}, "meta": map[string]any{"v": int64(1)},
	}
}

func BenchmarkEncodeMap10(b *testing.B) {
	v, enc := typical(), Encoder{}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = enc.Append(buf[:0], v)
	}
}

func BenchmarkDecodeMap10(b *testing.B) {
	frame, _ := (&Encoder{}).Append(nil, typical())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeDecodeMap10 is the target of the issue: ≤ 1 µs for both.
func BenchmarkEncodeDecodeMap10(b *testing.B) {
	v, enc := typical(), Encoder{}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = enc.Append(buf[:0], v)
		if _, err := Decode(buf, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineJSONMap10 is the same-run baseline: encoding/json Marshal and Unmarshal of the same
// map (what the figures in docs/benchmarks.md are compared with, since the machine's speed varies).
func BenchmarkBaselineJSONMap10(b *testing.B) {
	v := typical()
	b.ReportAllocs()
	for b.Loop() {
		buf, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		var out map[string]any
		if err := json.Unmarshal(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
}
