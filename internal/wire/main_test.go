package wire

import (
	"encoding/binary"
	"flag"
	"testing"

	"go.uber.org/goleak"
)

// update rewrites the golden frames and the fuzz seed corpus: go test ./internal/wire/ -run 'Golden|Seed' -update
var update = flag.Bool("update", false, "rewrite testdata/golden and the fuzz seed corpus")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testInc is the incarnation the tests use.
var testInc = [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}

// testKey signs the tests' signed frames.
var testKey = []byte("wire-test-key")

// sampleEnvelopes covers every kind and every field.
func sampleEnvelopes() map[string]Envelope {
	return map[string]Envelope{
		"broadcast": {Kind: KindBroadcast, Origin: "node-a", Incarnation: testInc, Seq: 1, Time: testTime,
			Topic: "room:lobby", PayloadType: "string", Payload: []byte("hi")},
		"broadcast-all-fields": {Scope: "my_pubsub", Kind: KindBroadcast, Origin: "node-a", Incarnation: testInc, Seq: 1<<63 + 12345, Time: -1,
			Topic: "user:123", Dispatcher: "fastlane", PayloadType: "app.UserUpdate",
			Payload: []byte{0x82, 0xa2, 'i', 'd', 0x7b, 0xa4, 'n', 'a', 'm', 'e', 0xa5, 'S', 'h', 'a', 'n', 'e'}},
		"broadcast-unsequenced-empty-payload": {Kind: KindBroadcast, Origin: "n", Incarnation: testInc, Topic: "t"},
		"direct": {Kind: KindDirect, Origin: "node-a", Incarnation: testInc, Seq: 300, Time: testTime + 1, Target: "node-b",
			Topic: "phx:tracker", PayloadType: "[]byte", Payload: []byte{0, 1, 2, 0xff}},
		"probe": {Kind: KindProbe, Origin: "node-a", Incarnation: testInc, Seq: 7},
	}
}

// Raw frame builders, for frames Append would refuse to write.

// hdr returns a fixed header with the given kind and flags, and seq 1.
func hdr(kind, flags byte) []byte { return hdrSeq(kind, flags, 1) }

// hdrSeq returns a fixed header with the given kind, flags and seq.
func hdrSeq(kind, flags byte, seq uint64) []byte {
	b := append([]byte(Magic), Version, kind, flags)
	b = append(b, testInc[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint64(b, uint64(testTime))
}

// testTime is the send time of the tests' raw frames (Unix milliseconds).
const testTime = 1_700_000_000_000

// uv returns the minimal varint of v.
func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// fld returns a length-prefixed field.
func fld(s string) []byte { return append(uv(uint64(len(s))), s...) }

// cat concatenates parts into a frame.
func cat(parts ...[]byte) string {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return string(b)
}

// envelopeOf returns the envelope that encodes to f's frame.
func envelopeOf(f Frame) Envelope {
	e := Envelope{Kind: f.Kind, Origin: f.Origin, Incarnation: f.Incarnation, Seq: f.Seq, Time: f.Time, Target: f.Target,
		Topic: f.Topic, Dispatcher: f.Dispatcher, PayloadType: f.PayloadType}
	if f.Payload != "" {
		e.Payload = []byte(f.Payload)
	}
	return e
}

// mustAppend encodes e or fails the test.
func mustAppend(tb testing.TB, e Envelope, key []byte) []byte {
	tb.Helper()
	b, err := Append(nil, &e, key)
	if err != nil {
		tb.Fatalf("Append(%+v): %v", e, err)
	}
	return b
}

// checkFrame fails the test unless f carries exactly e.
func checkFrame(tb testing.TB, f Frame, e Envelope, signed bool) {
	tb.Helper()
	got := envelopeOf(f)
	got.Scope = e.Scope
	if e.Payload != nil && len(e.Payload) == 0 {
		e.Payload = nil
	}
	if got.Kind != e.Kind || got.Origin != e.Origin || got.Incarnation != e.Incarnation || got.Seq != e.Seq || got.Time != e.Time ||
		got.Target != e.Target || got.Topic != e.Topic || got.Dispatcher != e.Dispatcher ||
		got.PayloadType != e.PayloadType || string(got.Payload) != string(e.Payload) || f.Signed != signed {
		tb.Errorf("decoded %+v (signed %v), want %+v (signed %v)", got, f.Signed, e, signed)
	}
}
