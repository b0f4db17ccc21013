package phoenixadapter_test

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
)

const channel = "phx:Elixir.MyApp.PubSub.Adapter"

var ctx = context.Background()

// A Go node named a@127.0.0.1 publishes exactly the frames a real Elixir node (OTP 26+, which writes
// every atom as UTF-8) does for the same calls.
func TestFramesAreElixirs(t *testing.T) {
	_, url := miniURL(t)
	raw := newRawSubscriber(t, url, channel)
	ps, a := newNode(t, phoenixadapter.Config{URL: url, NodeName: "a@127.0.0.1"}, pubsub.Config{})
	if a.Channel() != channel {
		t.Fatalf("Channel() = %q", a.Channel())
	}
	check := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, want := raw.next(t), golden(t, "otp26/"+name); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", name, got, want)
		}
	}
	check("pubsub_broadcast_string", ps.Broadcast(ctx, "room:lobby", "hello"))
	check("pubsub_direct_broadcast_other", ps.DirectBroadcast(ctx, "b@127.0.0.1", "room:lobby", "hello b"))
	check("pubsub_broadcast_socket_broadcast_channel_server", ps.Broadcast(ctx, "room:lobby",
		phoenixadapter.SocketBroadcast{Topic: "room:lobby", Event: "new_msg", Payload: map[string]any{"body": "hi"}}))
	check("pubsub_broadcast_map", ps.Broadcast(ctx, "room:lobby", map[string]any{
		"big": int64(1) << 40, "body": "héllo wörld", "count": 42, "neg": -7, "nested": map[string]any{"k": []int{1, 2, 3}},
		"none": nil, "ok": true, "ratio": 0.5, "tags": []string{"a", "b"},
	}))
	if st := a.Stats(); st.Published != 4 || st.Refused != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Frames from Elixir (the golden frames, published as node a@127.0.0.1 would) arrive as Go values, by
// the receive rule.
func TestReceiveGolden(t *testing.T) {
	_, url := miniURL(t)
	raw := newRawSubscriber(t, url, channel)
	ps, a := newNode(t, phoenixadapter.Config{URL: url, NodeName: "b@127.0.0.1"}, pubsub.Config{})
	s := subscribe(t, ps, "room:lobby")
	bcast := phoenixadapter.SocketBroadcast{Topic: "room:lobby", Event: "new_msg", Payload: map[string]any{"body": "hi"}}
	rows := make([]any, 50)
	for i := range rows {
		rows[i] = map[string]any{"id": int64(i + 1), "name": "user", "status": "online"}
	}
	for _, tt := range []struct {
		frame string
		want  any
	}{
		{"pubsub_broadcast_string", "hello"},
		{"otp26/pubsub_broadcast_string", "hello"},
		{"pubsub_direct_broadcast_other", "hello b"}, // addressed to b@
		{"pubsub_broadcast_socket_broadcast_channel_server", bcast},
		{"pubsub_broadcast_socket_broadcast_default_dispatcher", bcast},
		{"pubsub_compressed6_big_map", map[string]any{"rows": rows}},
		{"elixir118/pubsub_broadcast_string", "hello"},
	} {
		raw.publish(t, channel, golden(t, tt.frame))
		if got := receive(t, s, 5*time.Second).Payload; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.frame, got, tt.want)
		}
	}
	// Not for b@: a direct broadcast to a@ (pubsub_direct_broadcast_self), and b@'s own broadcast.
	raw.publish(t, channel, golden(t, "pubsub_direct_broadcast_self"))
	own := bytes.ReplaceAll(golden(t, "pubsub_broadcast_string"), []byte("a@127.0.0.1"), []byte("b@127.0.0.1"))
	raw.publish(t, channel, own)
	// Tracker gossip is an ordinary broadcast on a topic nobody here subscribes to.
	raw.publish(t, channel, golden(t, "tracker_heartbeat_delta_2_joins"))
	// Garbage, a foreign term, another version: dropped or ignored, never delivered.
	raw.publish(t, channel, []byte("not a term"))
	raw.publish(t, channel, []byte{131, 104, 2, 97, 3, 97, 4})
	raw.publish(t, channel, bytes.Replace(golden(t, "pubsub_broadcast_string"), []byte{104, 6, 97, 3}, []byte{104, 6, 97, 2}, 1))
	raw.publish(t, channel, golden(t, "pubsub_broadcast_string")) // the last one, delivered
	if got := receive(t, s, 5*time.Second).Payload; got != "hello" {
		t.Fatalf("got %#v after the ignored frames", got)
	}
	quiet(t, s, 50*time.Millisecond)
	st := a.Stats()
	if st.Received != 14 || st.Delivered != 9 || st.NotForUs != 2 || st.Undecodable != 1 || st.Ignored != 2 {
		t.Errorf("stats %+v", st)
	}
}

// Two Go nodes talk through the Phoenix format; each value of the type mapping survives the trip.
func TestGoToGo(t *testing.T) {
	_, url := miniURL(t)
	a, _ := newNode(t, phoenixadapter.Config{URL: url, NodeName: "a@h", Atoms: []string{"ok"}, GoPayloads: true}, pubsub.Config{})
	b, _ := newNode(t, phoenixadapter.Config{URL: url, NodeName: "b@h", Compression: 9}, pubsub.Config{})
	sa, sb := subscribe(t, a, "t"), subscribe(t, b, "t")
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	values := []struct{ in, want any }{
		{"s", "s"}, {[]byte("b"), "b"}, {42, int64(42)}, {huge, huge}, {1.5, 1.5}, {nil, nil}, {true, true},
		{phoenixadapter.Atom("ok"), phoenixadapter.Atom("ok")},
		{phoenixadapter.Tuple{phoenixadapter.Atom("ok"), 1}, phoenixadapter.Tuple{phoenixadapter.Atom("ok"), int64(1)}},
		{map[string]any{"n": map[string]any{"l": []any{"x", 1}}}, map[string]any{"n": map[string]any{"l": []any{"x", int64(1)}}}},
		{map[string]string{"big": string(make([]byte, 4096))}, map[string]any{"big": string(make([]byte, 4096))}}, // compressed
		{&phoenixadapter.SocketBroadcast{Topic: "t", Event: "e", Payload: nil}, phoenixadapter.SocketBroadcast{Topic: "t", Event: "e"}},
	}
	type point struct{ X, Y int }
	values = append(values, struct{ in, want any }{point{1, 2}, phoenixadapter.Tuple{phoenixadapter.Atom("phxgo_payload"), "", "\x82\xa1X\x01\xa1Y\x02"}})
	for _, v := range values {
		if err := a.Broadcast(ctx, "t", v.in); err != nil {
			t.Fatalf("Broadcast(%#v): %v", v.in, err)
		}
		receive(t, sa, time.Second) // local delivery
		if got := receive(t, sb, 5*time.Second).Payload; !reflect.DeepEqual(got, v.want) {
			t.Errorf("%#v arrived as %#v, want %#v", v.in, got, v.want)
		}
	}
	if err := b.DirectBroadcast(ctx, "a@h", "t", "direct"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, sa, 5*time.Second).Payload; got != "direct" {
		t.Errorf("direct: %#v", got)
	}
	quiet(t, sb, 50*time.Millisecond)

	// With GoPayloads on both sides, values without an Elixir counterpart arrive as the PubSub's own
	// frames deliver them; the opaque tuple keeps Elixir's atoms to the fixed one.
	c, _ := newNode(t, phoenixadapter.Config{URL: url, NodeName: "c@h", GoPayloads: true}, pubsub.Config{})
	sc := subscribe(t, c, "t")
	if err := a.Broadcast(ctx, "t", point{3, 4}); err != nil {
		t.Fatal(err)
	}
	receive(t, sa, time.Second)
	receive(t, sb, 5*time.Second)
	var p point
	if err := receive(t, sc, 5*time.Second).Decode(&p); err != nil || p != (point{3, 4}) {
		t.Errorf("a struct through GoPayloads decoded to %+v, %v", p, err)
	}
	if err := a.Broadcast(ctx, "t", phoenixadapter.Pid{Node: "ok", ID: 1}); err != nil {
		t.Fatal(err)
	}
	receive(t, sa, time.Second)
	receive(t, sb, 5*time.Second)
	if got := receive(t, sc, 5*time.Second).Payload; got != (phoenixadapter.Pid{Node: "ok", ID: 1}) {
		t.Errorf("a Pid with GoPayloads arrived as %#v", got)
	}
}

// Nothing but a well-formed frame is ever published: payloads Elixir cannot take, and atoms outside
// Config.Atoms, are refused before anything reaches Redis.
func TestRefusesBadPayloads(t *testing.T) {
	_, url := miniURL(t)
	raw := newRawSubscriber(t, url, channel)
	ps, a := newNode(t, phoenixadapter.Config{URL: url, NodeName: "a@h", Atoms: []string{"ok"}, MaxMessageSize: 1000}, pubsub.Config{})
	for _, p := range []any{
		struct{ C chan int }{}, phoenixadapter.Atom("user_input"), map[phoenixadapter.Atom]any{"evil": 1},
		struct{ A phoenixadapter.Atom }{"user_input"}, // structs are maps (TestStructPayloads), their atoms checked
		[]any{phoenixadapter.Tuple{phoenixadapter.Atom("ok"), phoenixadapter.Atom("nope")}},
		phoenixadapter.SocketBroadcast{Topic: "t", Event: "e", Payload: phoenixadapter.Atom("nope")},
	} {
		if err := ps.Broadcast(ctx, "t", p); !errors.Is(err, phoenixadapter.ErrUnencodable) {
			t.Errorf("Broadcast(%#v): %v, want ErrUnencodable", p, err)
		}
	}
	if err := ps.Broadcast(ctx, "t", string(make([]byte, 2000))); !errors.Is(err, pubsub.ErrTooLarge) {
		t.Errorf("a 2000-byte payload: %v, want ErrTooLarge", err)
	}
	if err := ps.DirectBroadcast(ctx, string(make([]rune, 300)), "t", "x"); !errors.Is(err, phoenixadapter.ErrUnencodable) {
		t.Errorf("DirectBroadcast to a 300-character name: %v", err)
	}
	if err := ps.Broadcast(ctx, "t", phoenixadapter.Atom("ok")); err != nil {
		t.Fatal(err)
	}
	if got := raw.next(t); !bytes.Contains(got, []byte{119, 2, 'o', 'k'}) {
		t.Errorf("the first frame published is %x, want the :ok one", got)
	}
	if st := a.Stats(); st.Refused != 8 || st.Published != 1 {
		t.Errorf("stats %+v", st)
	}
}

// Dispatchers: a Go name maps to an Elixir module both ways; unmapped names are refused.
func TestDispatchers(t *testing.T) {
	_, url := miniURL(t)
	raw := newRawSubscriber(t, url, channel)
	d := pubsub.DispatcherFunc(func(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
		pubsub.DefaultDispatcher().Dispatch(entries, from, msg)
	})
	ps, _ := newNode(t, phoenixadapter.Config{URL: url, NodeName: "b@127.0.0.1", Dispatchers: map[string]string{"fl": "Phoenix.Channel.Server"}},
		pubsub.Config{Dispatchers: map[string]pubsub.Dispatcher{"fl": d, "other": d}})
	s := subscribe(t, ps, "room:lobby")
	if err := ps.Broadcast(ctx, "room:lobby", "x", pubsub.WithDispatcher("other")); !errors.Is(err, pubsub.ErrUnknownDispatcher) {
		t.Errorf("unmapped dispatcher: %v", err)
	}
	quiet(t, s, 20*time.Millisecond) // an adapter error skips local delivery, as in Phoenix
	if err := ps.Broadcast(ctx, "room:lobby", "x", pubsub.WithDispatcher("fl")); err != nil {
		t.Fatal(err)
	}
	receive(t, s, time.Second)
	if got := raw.next(t); !bytes.HasSuffix(got, []byte("Elixir.Phoenix.Channel.Server")) {
		t.Errorf("frame %q", got)
	}
	raw.publish(t, channel, golden(t, "pubsub_broadcast_socket_broadcast_channel_server"))
	if m := receive(t, s, 5*time.Second); m.Payload.(phoenixadapter.SocketBroadcast).Event != "new_msg" {
		t.Errorf("got %+v", m)
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []phoenixadapter.Config{
		{},
		{URL: "redis://x", NodeName: string(make([]rune, 256))},
		{URL: "redis://x", NodeName: "\xff"},
		{URL: "redis://x", Compression: 10},
		{URL: "redis://x", Atoms: []string{""}},
		{URL: "redis://x", Dispatchers: map[string]string{"": "X"}},
		{URL: "redis://x", ProbeInterval: time.Millisecond},
		{URL: "redis://x", MaxMessageSize: -1},
		{URL: "::"},
	} {
		if _, err := phoenixadapter.New(c); !errors.Is(err, pubsub.ErrInvalidConfig) {
			t.Errorf("New(%+v): %v, want ErrInvalidConfig", c, err)
		}
	}
	a, err := phoenixadapter.New(phoenixadapter.Config{URL: "redis://x"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.NodeName() == "" || a.Channel() != "" {
		t.Errorf("NodeName %q, Channel %q", a.NodeName(), a.Channel())
	}
	for in, want := range map[string]string{
		"MyApp.PubSub": "phx:Elixir.MyApp.PubSub.Adapter", "Elixir.MyApp.PubSub": "phx:Elixir.MyApp.PubSub.Adapter",
		"my_pubsub": "phx:Elixir.my_pubsub.Adapter", ":my_pubsub": "phx:Elixir.my_pubsub.Adapter",
	} {
		if got := phoenixadapter.ChannelName(in); got != want {
			t.Errorf("ChannelName(%q) = %q, want %q", in, got, want)
		}
	}
}
