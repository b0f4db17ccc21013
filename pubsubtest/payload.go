package pubsubtest

import (
	"bytes"
	"testing"

	"github.com/phxgo/pubsub"
)

// Payloads: what a subscriber receives, locally and from other nodes, and Message.Decode.
var payloadChecks = []check{
	{"LocalKeepsValues", 1, testPayloadLocal},
	{"DecodeLocal", 1, testDecodeLocal},
	{"AcrossNodes", 2, testPayloadAcrossNodes},
}

func testPayloadLocal(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room")
	raw := []byte("raw\x00bytes")
	for _, p := range []any{point{X: 1, Y: 2, Label: "p"}, plain{X: 3, Label: "q"}, raw, "text", 42, nil} {
		noErr(t, "Broadcast", ps.Broadcast(t.Context(), "room", p))
	}
	s.expect(t, a, "room", point{X: 1, Y: 2, Label: "p"}, plain{X: 3, Label: "q"})
	msg := s.recv(t, a)
	if b, ok := msg.Payload.([]byte); !ok || &b[0] != &raw[0] {
		t.Errorf("[]byte payload arrived as %T %#v, want the broadcast slice itself", msg.Payload, msg.Payload)
	}
	s.expect(t, a, "room", "text", 42, nil)
	s.none(t, a)
}

func testDecodeLocal(t *testing.T, s *suite) {
	ps := s.start(t, 1).nodes[0]
	a := sub(t, ps, "room")
	want := point{X: 1, Y: 2, Label: "p"}
	noErr(t, "Broadcast", ps.Broadcast(t.Context(), "room", want))
	msg := s.recv(t, a)
	checkDecode(t, msg, want)
}

// checkDecode checks Message.Decode on msg, whose payload was broadcast as want (a point or a plain):
// into its own type, into the other type of the same shape, into an any, and its errors.
func checkDecode(t *testing.T, msg pubsub.Message, want any) {
	t.Helper()
	var p point
	var q plain
	if err := msg.Decode(&p); err != nil {
		t.Errorf("Decode(&point) of %T: %v", msg.Payload, err)
	}
	if err := msg.Decode(&q); err != nil {
		t.Errorf("Decode(&plain) of %T: %v", msg.Payload, err)
	}
	var w point
	switch v := want.(type) {
	case point:
		w = v
	case plain:
		w = point(v)
	}
	if p != w || q != plain(w) {
		t.Errorf("Decode of %T gave %+v and %+v, want the fields of %+v", msg.Payload, p, q, want)
	}
	var v any
	if err := msg.Decode(&v); err != nil {
		t.Errorf("Decode(&any) of %T: %v", msg.Payload, err)
	}
	if err := msg.Decode(nil); err == nil {
		t.Errorf("Decode(nil) of %T returned nil, want an error", msg.Payload)
	}
	if err := msg.Decode(point{}); err == nil {
		t.Errorf("Decode(point{}) (not a pointer) of %T returned nil, want an error", msg.Payload)
	}
	if err := msg.Decode((*point)(nil)); err == nil {
		t.Errorf("Decode((*point)(nil)) of %T returned nil, want an error", msg.Payload)
	}
}

func testPayloadAcrossNodes(t *testing.T, s *suite) {
	c := s.start(t, 2)
	a, b := c.nodes[0], c.nodes[1]
	remote := sub(t, b, "room")
	raw := []byte("raw\x00bytes")
	for _, p := range []any{point{X: 1, Y: 2, Label: "p"}, raw, "text", plain{X: 3, Y: 4, Label: "q"}, 42} {
		noErr(t, "Broadcast", a.Broadcast(t.Context(), "room", p))
	}

	// A registered type arrives as itself, and decodes.
	msg := s.recv(t, remote)
	if got, ok := msg.Payload.(point); !ok || got != (point{X: 1, Y: 2, Label: "p"}) {
		t.Errorf("registered type arrived as %T %#v, want point{1, 2, \"p\"}", msg.Payload, msg.Payload)
	}
	checkDecode(t, msg, point{X: 1, Y: 2, Label: "p"})

	// []byte and string arrive as themselves.
	msg = s.recv(t, remote)
	if got, ok := msg.Payload.(string); ok && s.nativeValues {
		if got != string(raw) {
			t.Errorf("[]byte arrived as string %q, want %q", got, raw)
		}
	} else if got, ok := msg.Payload.([]byte); !ok || !bytes.Equal(got, raw) {
		t.Errorf("[]byte arrived as %T %#v, want []byte %q", msg.Payload, msg.Payload, raw)
	}
	s.expect(t, remote, "room", "text")

	// An unregistered struct arrives as an Encoded, and Decode fills a struct of its shape.
	msg = s.recv(t, remote)
	if e, ok := msg.Payload.(pubsub.Encoded); !ok {
		t.Errorf("unregistered struct arrived as %T %#v, want a pubsub.Encoded", msg.Payload, msg.Payload)
	} else if len(e.Data) == 0 {
		t.Errorf("unregistered struct arrived as an Encoded without data")
	}
	checkDecode(t, msg, plain{X: 3, Y: 4, Label: "q"})

	// So does any other unregistered value.
	msg = s.recv(t, remote)
	var n int
	if err := msg.Decode(&n); err != nil || n != 42 {
		t.Errorf("Decode(&int) of %T %#v: %d, %v; want 42", msg.Payload, msg.Payload, n, err)
	}
	if _, ok := msg.Payload.(pubsub.Encoded); !ok && !s.nativeValues {
		t.Errorf("an int (unregistered) arrived as %T, want a pubsub.Encoded", msg.Payload)
	}
	s.none(t, remote)
}
