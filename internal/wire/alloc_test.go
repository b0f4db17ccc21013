package wire

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestAllocs(t *testing.T) {
	e := sampleEnvelopes()["broadcast-all-fields"]
	e.Payload = make([]byte, 100)
	buf := make([]byte, 0, 512)
	unsigned := string(mustAppend(t, e, nil))
	signed := string(mustAppend(t, e, testKey))
	payload, err := msgpack.Marshal(map[string]any{"id": 123, "name": "Shane", "tags": []string{"a", "b"}, "score": 1.5})
	if err != nil {
		t.Fatal(err)
	}
	payloadStr := string(payload)

	tests := []struct {
		name   string
		pooled bool // uses sync.Pool, which drops items under the race detector
		f      func()
	}{
		{"Append", false, func() { _, _ = Append(buf[:0], &e, nil) }},
		{"Decode", false, func() { _, _ = Decode(unsigned, Limits{}) }},
		{"Decode signed, no key", false, func() { _, _ = Decode(signed, Limits{}) }},
		{"CheckMsgpack", false, func() { _ = CheckMsgpack(payload, DefaultMaxDepth) }},
		{"CheckMsgpackString", false, func() { _ = CheckMsgpackString(payloadStr, DefaultMaxDepth) }},
		{"Append signed", true, func() { _, _ = Append(buf[:0], &e, testKey) }},
		{"DecodeSigned", true, func() { _, _ = DecodeSigned(signed, Limits{}, e.Scope, testKey) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.pooled && raceEnabled {
				t.Skip("sync.Pool drops items under the race detector")
			}
			tt.f() // the calls above must succeed; check them once
			if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
				t.Errorf("%v allocations per call, want 0", n)
			}
		})
	}
	// The calls measured above must be successful ones.
	if _, err := Append(buf[:0], &e, testKey); err != nil {
		t.Error(err)
	}
	if _, err := DecodeSigned(signed, Limits{}, e.Scope, testKey); err != nil {
		t.Error(err)
	}
	if _, err := Decode(unsigned, Limits{}); err != nil {
		t.Error(err)
	}
	if err := CheckMsgpack(payload, DefaultMaxDepth); err != nil {
		t.Error(err)
	}
}
