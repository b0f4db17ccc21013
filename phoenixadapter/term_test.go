package phoenixadapter_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// With TermPayloads, the frames of TestReceiveGolden arrive as Terms whose Value is what arrives
// without it, are classified the same way, and decode straight into structs.
func TestTermPayloads(t *testing.T) {
	_, url := miniURL(t)
	raw := newRawSubscriber(t, url, channel)
	ps, a := newNode(t, phoenixadapter.Config{URL: url, NodeName: "b@127.0.0.1", TermPayloads: true}, pubsub.Config{})
	s := subscribe(t, ps, "room:lobby")
	bcast := phoenixadapter.SocketBroadcast{Topic: "room:lobby", Event: "new_msg", Payload: map[string]any{"body": "hi"}}
	rows := make([]any, 50)
	for i := range rows {
		rows[i] = map[string]any{"id": int64(i + 1), "name": "user", "status": "online"}
	}
	type row struct {
		ID     int    `json:"id"` // json tags name the keys when there is no etf tag
		Name   string `json:"name"`
		Status string `json:"status"`
	}
	var rowsOut struct {
		Rows []row `etf:"rows"`
	}
	type body struct {
		Body string `etf:"body"`
	}
	var bcastOut struct { // an Elixir struct: atom keys, matched but for case
		Topic, Event string
		Payload      body
	}
	var sb phoenixadapter.SocketBroadcast
	for _, tt := range []struct {
		frame string
		want  any
		into  any // what Message.Decode fills, and the field to check
		check func() bool
	}{
		{"pubsub_broadcast_string", "hello", new(string), nil},
		{"otp26/pubsub_broadcast_string", "hello", new(string), nil},
		{"pubsub_direct_broadcast_other", "hello b", new(string), nil},
		{"pubsub_broadcast_socket_broadcast_channel_server", bcast, &bcastOut, func() bool {
			return bcastOut.Topic == "room:lobby" && bcastOut.Event == "new_msg" && bcastOut.Payload.Body == "hi"
		}},
		{"pubsub_broadcast_socket_broadcast_default_dispatcher", bcast, &sb, func() bool { return reflect.DeepEqual(sb, bcast) }},
		{"pubsub_compressed6_big_map", map[string]any{"rows": rows}, &rowsOut, func() bool {
			return len(rowsOut.Rows) == 50 && rowsOut.Rows[49] == row{50, "user", "online"}
		}},
		{"elixir118/pubsub_broadcast_string", "hello", new(string), nil},
	} {
		raw.publish(t, channel, golden(t, tt.frame))
		m := receive(t, s, 5*time.Second)
		term, ok := m.Payload.(phoenixadapter.Term)
		if !ok {
			t.Fatalf("%s: a %T, want a Term", tt.frame, m.Payload)
		}
		if v, err := term.Value(); err != nil || !reflect.DeepEqual(v, tt.want) {
			t.Errorf("%s: Value() = %#v, %v; want %#v", tt.frame, v, err, tt.want)
		}
		if err := m.Decode(tt.into); err != nil {
			t.Errorf("%s: Decode(%T): %v", tt.frame, tt.into, err)
		} else if tt.check != nil && !tt.check() {
			t.Errorf("%s: Decode(%T) filled %+v", tt.frame, tt.into, tt.into)
		} else if p, ok := tt.into.(*string); ok && *p != tt.want {
			t.Errorf("%s: Decode(*string) = %q", tt.frame, *p)
		}
	}
	raw.publish(t, channel, golden(t, "pubsub_direct_broadcast_self"))
	raw.publish(t, channel, bytes.ReplaceAll(golden(t, "pubsub_broadcast_string"), []byte("a@127.0.0.1"), []byte("b@127.0.0.1")))
	raw.publish(t, channel, golden(t, "tracker_heartbeat_delta_2_joins"))
	raw.publish(t, channel, []byte("not a term"))
	raw.publish(t, channel, []byte{131, 104, 2, 97, 3, 97, 4})
	raw.publish(t, channel, bytes.Replace(golden(t, "pubsub_broadcast_string"), []byte{104, 6, 97, 3}, []byte{104, 6, 97, 2}, 1))
	raw.publish(t, channel, golden(t, "pubsub_broadcast_string"))
	if got, err := pubsub.As[string](receive(t, s, 5*time.Second)); err != nil || got != "hello" {
		t.Fatalf("got %q, %v after the ignored frames", got, err)
	}
	quiet(t, s, 50*time.Millisecond)
	if st := a.Stats(); st.Received != 14 || st.Delivered != 9 || st.NotForUs != 2 || st.Undecodable != 1 || st.Ignored != 2 {
		t.Errorf("stats %+v", st)
	}

	// a term that does not fit: an error naming the field, the term and the type
	raw.publish(t, channel, golden(t, "pubsub_compressed6_big_map"))
	var wrong struct {
		Rows []struct {
			ID string `etf:"id"`
		} `etf:"rows"`
	}
	err := receive(t, s, 5*time.Second).Decode(&wrong)
	var te *phoenixadapter.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field != "rows.id" || te.Term != "integer 1" || te.Type.String() != "string" {
		t.Errorf("Decode into the wrong struct: %v (%+v)", err, te)
	}
}

// A Go struct is broadcast as the map with binary keys an Elixir app would send (keys from etf, else
// json tags), and decodes back into the struct from a Term.
func TestStructPayloads(t *testing.T) {
	type event struct {
		User  string   `json:"user"`
		Count int      `etf:"count"`
		Tags  []string `etf:"tags,omitempty"`
		Skip  string   `etf:"-"`
	}
	_, url := miniURL(t)
	raw := newRawSubscriber(t, url, channel)
	a, _ := newNode(t, phoenixadapter.Config{URL: url, NodeName: "a@h"}, pubsub.Config{})
	b, _ := newNode(t, phoenixadapter.Config{URL: url, NodeName: "b@h"}, pubsub.Config{})
	c, _ := newNode(t, phoenixadapter.Config{URL: url, NodeName: "c@h", TermPayloads: true}, pubsub.Config{})
	sb, sc := subscribe(t, b, "t"), subscribe(t, c, "t")
	in := event{User: "alice", Count: 3, Skip: "x"}
	if err := a.Broadcast(ctx, "t", in); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"user": "alice", "count": int64(3)}
	f, err := phoenixadapter.DecodeFrame(string(raw.next(t)), 0)
	if err != nil || !reflect.DeepEqual(f.Payload, want) {
		t.Errorf("published %#v, %v; want %#v", f.Payload, err, want)
	}
	mb := receive(t, sb, 5*time.Second)
	if !reflect.DeepEqual(mb.Payload, want) {
		t.Errorf("arrived as %#v", mb.Payload)
	}
	in.Skip = ""
	if got, err := pubsub.As[event](receive(t, sc, 5*time.Second)); err != nil || !reflect.DeepEqual(got, in) {
		t.Errorf("As[event] of a Term: %+v, %v", got, err)
	}
}

// With GoPayloads too, a Go node's opaque payload is turned back into its value, not left a Term.
func TestTermPayloadsWithGoPayloads(t *testing.T) {
	type point struct{ X, Y int }
	_, url := miniURL(t)
	a, _ := newNode(t, phoenixadapter.Config{URL: url, NodeName: "a@h", GoPayloads: true}, pubsub.Config{})
	b, _ := newNode(t, phoenixadapter.Config{URL: url, NodeName: "b@h", GoPayloads: true, TermPayloads: true}, pubsub.Config{})
	sb := subscribe(t, b, "t")
	if err := a.Broadcast(ctx, "t", point{3, 4}); err != nil {
		t.Fatal(err)
	}
	m := receive(t, sb, 5*time.Second)
	if _, isTerm := m.Payload.(phoenixadapter.Term); isTerm {
		t.Fatalf("a Go payload arrived as a Term")
	}
	var p point
	if err := m.Decode(&p); err != nil || p != (point{3, 4}) {
		t.Errorf("decoded %+v, %v", p, err)
	}
	if err := a.Broadcast(ctx, "t", phoenixadapter.Tuple{int64(1), "x", nil}); err != nil { // a 3-tuple, not a Go payload
		t.Fatal(err)
	}
	var tup [3]any
	if err := receive(t, sb, 5*time.Second).Decode(&tup); err != nil || tup != [3]any{int64(1), "x", nil} {
		t.Errorf("a 3-tuple decoded to %v, %v", tup, err)
	}
}
