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

// typicalStruct is the struct a Go program decodes typical() into: the same ten keys, the nil as a
// nil pointer, the list as a []string, the nested map as a nested struct. The json tags are for the
// encoding/json baseline.
type typicalStruct struct {
	ID     int64    `etf:"id" json:"id"`
	User   string   `etf:"user" json:"user"`
	Body   string   `etf:"body" json:"body"`
	Room   string   `etf:"room" json:"room"`
	Count  int      `etf:"count" json:"count"`
	Score  float64  `etf:"score" json:"score"`
	Admin  bool     `etf:"admin" json:"admin"`
	Edited *string  `etf:"edited" json:"edited"`
	Tags   []string `etf:"tags" json:"tags"`
	Meta   struct {
		V int `etf:"v" json:"v"`
	} `etf:"meta" json:"meta"`
}

func typicalValue() *typicalStruct {
	s := &typicalStruct{ID: 123456, User: "alice", Body: "hello, world", Room: "room:lobby", Count: 42, Score: 0.75, Tags: []string{"a", "b"}}
	s.Meta.V = 1
	return s
}

// BenchmarkEncodeDecodeStruct10 is the target on the struct path: MarshalAppend into a reused
// buffer and Unmarshal into a new struct, ≤ 1 µs for both.
func BenchmarkEncodeDecodeStruct10(b *testing.B) {
	v := typicalValue()
	buf := make([]byte, 0, 512)
	var out typicalStruct // escapes to the heap once (Unmarshal takes an any), not once per loop
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = MarshalAppend(buf[:0], v); err != nil {
			b.Fatal(err)
		}
		out = typicalStruct{}
		if err := Unmarshal(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeStruct10(b *testing.B) {
	v := typicalValue()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = MarshalAppend(buf[:0], v)
	}
}

func BenchmarkDecodeStruct10(b *testing.B) {
	frame, _ := Marshal(typicalValue())
	var out typicalStruct
	b.ReportAllocs()
	for b.Loop() {
		out = typicalStruct{}
		if err := Unmarshal(frame, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineJSONStruct10 is the same-run baseline of the struct path: encoding/json Marshal and
// Unmarshal of the same struct.
func BenchmarkBaselineJSONStruct10(b *testing.B) {
	v := typicalValue()
	var out typicalStruct
	b.ReportAllocs()
	for b.Loop() {
		buf, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		out = typicalStruct{}
		if err := json.Unmarshal(buf, &out); err != nil {
			b.Fatal(err)
		}
	}
}
