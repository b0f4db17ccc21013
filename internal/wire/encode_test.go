package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestAppendInvalid(t *testing.T) {
	ok := sampleEnvelopes()["broadcast"]
	with := func(f func(e *Envelope)) *Envelope {
		e := ok
		f(&e)
		return &e
	}
	long := strings.Repeat("n", MaxNameLen+1)
	tests := []struct {
		name string
		e    *Envelope
		key  []byte
		msg  string
	}{
		{"nil envelope", nil, nil, "nil envelope"},
		{"kind 0", with(func(e *Envelope) { e.Kind = 0 }), nil, "unknown kind"},
		{"kind 4", with(func(e *Envelope) { e.Kind = 4 }), nil, "unknown kind"},
		{"empty origin", with(func(e *Envelope) { e.Origin = "" }), nil, "empty origin"},
		{"zero incarnation", with(func(e *Envelope) { e.Incarnation = [16]byte{} }), nil, "zero incarnation"},
		{"broadcast without topic", with(func(e *Envelope) { e.Topic = "" }), nil, "empty topic"},
		{"broadcast with target", with(func(e *Envelope) { e.Target = "node-b" }), nil, "broadcast frame with a target"},
		{"direct without target", with(func(e *Envelope) { e.Kind = KindDirect }), nil, "direct frame without target"},
		{"direct without topic", with(func(e *Envelope) { e.Kind, e.Target, e.Topic = KindDirect, "b", "" }), nil, "empty topic"},
		{"probe with payload", &Envelope{Kind: KindProbe, Origin: "a", Incarnation: testInc, Payload: []byte{1}}, nil, "probe"},
		{"probe with topic", &Envelope{Kind: KindProbe, Origin: "a", Incarnation: testInc, Topic: "t"}, nil, "probe"},
		{"probe with payload type", &Envelope{Kind: KindProbe, Origin: "a", Incarnation: testInc, PayloadType: "string"}, nil, "probe"},
		{"origin too long", with(func(e *Envelope) { e.Origin = long }), nil, "origin length 256 exceeds 255"},
		{"target too long", with(func(e *Envelope) { e.Kind, e.Target = KindDirect, long }), nil, "target length 256"},
		{"dispatcher too long", with(func(e *Envelope) { e.Dispatcher = long }), nil, "dispatcher length 256"},
		{"payload type too long", with(func(e *Envelope) { e.PayloadType = long }), nil, "payload type length 256"},
		{"topic too long", with(func(e *Envelope) { e.Topic = strings.Repeat("t", MaxTopicLen+1) }), nil, "topic length 4097 exceeds 4096"},
		{"frame too long", with(func(e *Envelope) { e.Payload = make([]byte, MaxFrameLen) }), nil, "exceeds 67108864"},
		{"signed frame too long", with(func(e *Envelope) { e.Payload = make([]byte, MaxFrameLen-MACLen-30) }), testKey, "exceeds 67108864"},
		{"empty key", &ok, []byte{}, "empty signing key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := Append(dst, tt.e, tt.key)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Append: %v, want ErrInvalid saying %q", err, tt.msg)
			}
			if string(got) != "keep" {
				t.Errorf("Append changed dst on error: %q", got)
			}
		})
	}
}

// TestAppendLimits encodes fields exactly at the hard caps, and the largest frame MaxFrameLen allows.
func TestAppendLimits(t *testing.T) {
	name := strings.Repeat("n", MaxNameLen)
	e := Envelope{Kind: KindDirect, Origin: name, Incarnation: testInc, Seq: 1<<64 - 1, Target: name,
		Topic: strings.Repeat("t", MaxTopicLen), Dispatcher: name, PayloadType: name}
	fixed := len(mustAppend(t, e, nil)) + 3 // the payload's length varint grows from 1 to 4 bytes
	e.Payload = bytes.Repeat([]byte{0xa5}, MaxFrameLen-fixed)
	frame := mustAppend(t, e, nil)
	if len(frame) != MaxFrameLen {
		t.Fatalf("frame is %d bytes, want %d", len(frame), MaxFrameLen)
	}
	f, err := Decode(string(frame), Limits{MaxFrame: MaxFrameLen})
	if err != nil {
		t.Fatal(err)
	}
	checkFrame(t, f, e, false)
	e.Payload = append(e.Payload, 0)
	if _, err := Append(nil, &e, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("one byte over MaxFrameLen: %v, want ErrInvalid", err)
	}
}

func TestAppendGrows(t *testing.T) {
	e := sampleEnvelopes()["broadcast-all-fields"]
	want := mustAppend(t, e, testKey)
	for _, c := range []int{0, 1, len(want) - 1, len(want), 4 * len(want)} {
		b, err := Append(make([]byte, 0, c), &e, testKey)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("capacity %d: %x, %v", c, b, err)
		}
	}
}
