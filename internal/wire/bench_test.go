package wire

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// benchEnvelope is a typical broadcast with a 100-byte payload.
func benchEnvelope() Envelope {
	payload := make([]byte, 100)
	for i := range payload {
		payload[i] = byte(i)
	}
	return Envelope{Kind: KindBroadcast, Origin: "node-a", Incarnation: testInc, Seq: 123456,
		Topic: "room:lobby", PayloadType: "app.Event", Payload: payload}
}

func BenchmarkAppend(b *testing.B) {
	e := benchEnvelope()
	buf := make([]byte, 0, 512)
	for _, c := range []struct {
		name string
		key  []byte
	}{{"unsigned", nil}, {"signed", testKey}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			out, _ := Append(buf[:0], &e, c.key)
			b.SetBytes(int64(len(out)))
			for b.Loop() {
				if _, err := Append(buf[:0], &e, c.key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	e := benchEnvelope()
	frame := string(mustAppend(b, e, nil))
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := Decode(frame, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSigned(b *testing.B) {
	e := benchEnvelope()
	frame := string(mustAppend(b, e, testKey))
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := DecodeSigned(frame, Limits{}, "", testKey); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckMsgpack checks a 100-byte msgpack payload: a struct of scalars, a string, a list and
// a nested map.
func BenchmarkCheckMsgpack(b *testing.B) {
	type item struct {
		ID    int
		Score float64
	}
	type event struct {
		ID    uint64
		Name  string
		Tags  []string
		Items []item
		Meta  map[string]any
	}
	payload, err := msgpack.Marshal(event{ID: 1 << 40, Name: "Shane", Tags: []string{"admin", "beta"},
		Items: []item{{1, 0.5}, {2, 1.5}}, Meta: map[string]any{"status": "away", "n": 3}})
	if err != nil {
		b.Fatal(err)
	}
	if len(payload) < 90 || len(payload) > 110 {
		b.Fatalf("payload is %d bytes, want about 100", len(payload))
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if err := CheckMsgpack(payload, DefaultMaxDepth); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMsgpackUnmarshal is the baseline CheckMsgpack adds to: decoding the same kind of payload.
func BenchmarkMsgpackUnmarshal(b *testing.B) {
	payload, err := msgpack.Marshal(map[string]any{"id": 1 << 40, "name": "Shane", "tags": []string{"admin", "beta"},
		"items": []map[string]any{{"id": 1, "score": 0.5}, {"id": 2, "score": 1.5}}, "meta": map[string]any{"status": "away"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		var v any
		if err := msgpack.Unmarshal(payload, &v); err != nil {
			b.Fatal(err)
		}
	}
}
