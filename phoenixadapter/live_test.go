package phoenixadapter_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// livePair starts a phoenix-peer and a Go node on one PubSub of their own.
func livePair(t *testing.T, cfg phoenixadapter.Config, env ...string) (*peer, *pubsub.PubSub, *phoenixadapter.Adapter) {
	t.Helper()
	name := "Live" + uniqueName("") + ".PubSub"
	p := startPeer(t, name, env...)
	cfg.URL, cfg.PubSubName = liveRedis(t), name
	if cfg.NodeName == "" {
		cfg.NodeName = uniqueName("go") + "@127.0.0.1"
	}
	ps, a := newNode(t, cfg, pubsub.Config{})
	return p, ps, a
}

// Elixir → Go: strings, maps, nested values and Elixir terms arrive as the mapped Go values.
func TestLiveElixirToGo(t *testing.T) {
	p, ps, _ := livePair(t, phoenixadapter.Config{})
	s := subscribe(t, ps, "room:lobby")
	for _, tt := range []struct {
		payload any
		want    any
	}{
		{"hello", "hello"},
		{map[string]any{"body": "héllo", "count": 42, "ratio": 0.5, "ok": true, "none": nil, "big": 1 << 40},
			map[string]any{"body": "héllo", "count": int64(42), "ratio": 0.5, "ok": true, "none": nil, "big": int64(1) << 40}},
		{map[string]any{"a": []any{1, map[string]any{"b": []any{"c", []any{}}}}},
			map[string]any{"a": []any{int64(1), map[string]any{"b": []any{"c", []any{}}}}}},
	} {
		p.Do(map[string]any{"cmd": "broadcast", "topic": "room:lobby", "payload": tt.payload})
		if got := receive(t, s, 10*time.Second).Payload; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("got %#v, want %#v", got, tt.want)
		}
	}
	p.Do(map[string]any{"cmd": "eval", "code": `Phoenix.PubSub.broadcast(pubsub, "room:lobby", {:joined, 12345678901234567890123, %{status: "on"}, [1 | 2], self()})`})
	got := receive(t, s, 10*time.Second).Payload.(phoenixadapter.Tuple)
	if got[0] != phoenixadapter.Atom("joined") || got[1].(interface{ String() string }).String() != "12345678901234567890123" ||
		!reflect.DeepEqual(got[2], phoenixadapter.Map{{Key: phoenixadapter.Atom("status"), Value: "on"}}) ||
		!reflect.DeepEqual(got[3], phoenixadapter.ImproperList{Elems: []any{int64(1)}, Tail: int64(2)}) ||
		got[4].(phoenixadapter.Pid).Node != phoenixadapter.Atom(p.Node) {
		t.Errorf("got %#v", got)
	}
}

// Go → Elixir: the peer's listener receives the exact terms.
func TestLiveGoToElixir(t *testing.T) {
	p, ps, _ := livePair(t, phoenixadapter.Config{Atoms: []string{"ok"}})
	p.Do(map[string]any{"cmd": "subscribe", "topic": "room:lobby"})
	for _, tt := range []struct {
		payload any
		inspect string
	}{
		{"hello", `"hello"`},
		{map[string]any{"body": "héllo", "count": 42, "ratio": 0.5, "ok": true, "none": nil},
			`%{"body" => "héllo", "count" => 42, "none" => nil, "ok" => true, "ratio" => 0.5}`},
		{map[string]any{"a": []any{1, map[string]any{"b": []string{"c"}}}, "big": int64(1) << 40}, `%{"a" => [1, %{"b" => ["c"]}], "big" => 1099511627776}`},
		{phoenixadapter.Tuple{phoenixadapter.Atom("ok"), []byte{255}, []any{}}, `{:ok, <<255>>, []}`},
	} {
		if err := ps.Broadcast(ctxT(t), "room:lobby", tt.payload); err != nil {
			t.Fatal(err)
		}
		if ev := p.Message("room:lobby"); ev["inspect"] != tt.inspect {
			t.Errorf("the peer received %v, want %s", ev["inspect"], tt.inspect)
		}
	}
}

// A SocketBroadcast goes through Phoenix.Channel.Server's dispatcher: a fastlane subscriber (a
// channel socket) pushes the exact JSON of Endpoint.broadcast; and Endpoint.broadcast reaches Go as
// a SocketBroadcast.
func TestLiveSocketBroadcast(t *testing.T) {
	p, ps, _ := livePair(t, phoenixadapter.Config{})
	p.Do(map[string]any{"cmd": "subscribe", "topic": "room:fast", "fastlane": true})
	err := ps.Broadcast(ctxT(t), "room:fast", phoenixadapter.SocketBroadcast{Topic: "room:fast", Event: "new_msg",
		Payload: map[string]any{"body": "hi", "n": 1}})
	if err != nil {
		t.Fatal(err)
	}
	ev := p.Await(10*time.Second, func(e map[string]any) bool { return e["event"] == "socket_push" })
	if want := `[null,null,"room:fast","new_msg",{"body":"hi","n":1}]`; ev["text"] != want {
		t.Errorf("socket_push %v, want %s", ev["text"], want)
	}

	s := subscribe(t, ps, "room:lobby")
	p.Do(map[string]any{"cmd": "broadcast_socket", "topic": "room:lobby", "event": "new_msg", "payload": map[string]any{"body": "from elixir"}})
	want := phoenixadapter.SocketBroadcast{Topic: "room:lobby", Event: "new_msg", Payload: map[string]any{"body": "from elixir"}}
	if got := receive(t, s, 10*time.Second).Payload; !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

// direct_broadcast both ways: delivered to the node named, and only there.
func TestLiveDirectBroadcast(t *testing.T) {
	p, ps, a := livePair(t, phoenixadapter.Config{})
	s := subscribe(t, ps, "t")
	p.Do(map[string]any{"cmd": "subscribe", "topic": "t"})
	p.Do(map[string]any{"cmd": "direct_broadcast", "node": "nobody@127.0.0.1", "topic": "t", "payload": "not for go"})
	p.Do(map[string]any{"cmd": "direct_broadcast", "node": a.NodeName(), "topic": "t", "payload": "for go"})
	if got := receive(t, s, 10*time.Second).Payload; got != "for go" {
		t.Errorf("Go received %#v first, want the direct broadcast to it", got)
	}
	if err := ps.DirectBroadcast(ctxT(t), "nobody@127.0.0.1", "t", "not for elixir"); err != nil {
		t.Fatal(err)
	}
	if err := ps.DirectBroadcast(ctxT(t), p.Node, "t", "for elixir"); err != nil {
		t.Fatal(err)
	}
	if ev := p.Message("t"); ev["payload"] != "for elixir" {
		t.Errorf("the peer received %v first", ev["payload"])
	}
	quiet(t, s, 100*time.Millisecond)
}

// Compressed frames both ways (COMPRESSED_EXT, zlib).
func TestLiveCompression(t *testing.T) {
	p, ps, a := livePair(t, phoenixadapter.Config{Compression: 6}, "PHX_COMPRESSION=6")
	raw := newRawSubscriber(t, liveRedis(t), a.Channel())
	s := subscribe(t, ps, "big")
	p.Do(map[string]any{"cmd": "subscribe", "topic": "big"})
	rows := make([]any, 50)
	for i := range rows {
		rows[i] = map[string]any{"id": int64(i), "name": "user", "status": "online"}
	}
	big := map[string]any{"rows": rows}

	p.Do(map[string]any{"cmd": "broadcast", "topic": "big", "payload": big})
	if f := raw.next(t); f[0] != 131 || f[1] != 80 {
		t.Errorf("Elixir's frame is not compressed: %x", f[:2])
	}
	if got := receive(t, s, 10*time.Second).Payload; !reflect.DeepEqual(got, big) {
		t.Errorf("got %#v", got)
	}
	p.Message("big") // its own listener

	if err := ps.Broadcast(ctxT(t), "big", big); err != nil {
		t.Fatal(err)
	}
	receive(t, s, time.Second) // locally
	if f := raw.next(t); f[0] != 131 || f[1] != 80 {
		t.Errorf("Go's frame is not compressed: %x", f[:2])
	}
	if ev := p.Message("big"); jsonOf(t, ev["payload"]) != jsonOf(t, big) {
		t.Errorf("the peer received %v", ev["payload"])
	}
}

// broadcast_from: the other node receives, the sender's own listener does not.
func TestLiveBroadcastFrom(t *testing.T) {
	p, ps, _ := livePair(t, phoenixadapter.Config{})
	s := subscribe(t, ps, "t")
	p.Do(map[string]any{"cmd": "subscribe", "topic": "t"})
	p.Do(map[string]any{"cmd": "broadcast_from", "topic": "t", "payload": "from elixir"})
	if got := receive(t, s, 10*time.Second).Payload; got != "from elixir" {
		t.Errorf("got %#v", got)
	}
	p.None("message", "t", 200*time.Millisecond)

	if err := ps.BroadcastFrom(ctxT(t), s, "t", "from go"); err != nil {
		t.Fatal(err)
	}
	if ev := p.Message("t"); ev["payload"] != "from go" {
		t.Errorf("the peer received %v", ev["payload"])
	}
	quiet(t, s, 100*time.Millisecond)
}

// Frames that are not for a node are ignored on both sides: the peer's ready probe and a direct
// broadcast to another node reach Go's channel but not its subscribers; foreign terms (another wire
// version, another shape) published on the channel are ignored by both, and traffic goes on.
func TestLiveIgnored(t *testing.T) {
	p, ps, a := livePair(t, phoenixadapter.Config{})
	raw := newRawSubscriber(t, liveRedis(t), a.Channel())
	s := subscribe(t, ps, "t")
	p.Do(map[string]any{"cmd": "subscribe", "topic": "t"})
	node := []byte(a.NodeName())
	foreign := [][]byte{
		{131, 104, 2, 97, 3, 97, 4}, // {3, 4}
		append(append([]byte{131, 104, 6, 97, 2, 119, 6}, "except"...), append(append([]byte{119, byte(len(node))}, node...),
			109, 0, 0, 0, 1, 't', 109, 0, 0, 0, 1, 'x', 119, 21)...), // version 2
	}
	foreign[1] = append(foreign[1], "Elixir.Phoenix.PubSub"...)
	for _, f := range foreign {
		raw.publish(t, a.Channel(), f)
	}
	// Within the 20-30 ms a crashed Elixir receiver would lose: Go's next broadcast must arrive.
	if err := ps.Broadcast(ctxT(t), "t", "right after"); err != nil {
		t.Fatal(err)
	}
	receive(t, s, time.Second) // locally
	if ev := p.Message("t"); ev["payload"] != "right after" {
		t.Errorf("the peer received %v, want the broadcast right after the foreign frames", ev["payload"])
	}
	p.Do(map[string]any{"cmd": "direct_broadcast", "node": "other@127.0.0.1", "topic": "t", "payload": "not for go"})
	if err := ps.DirectBroadcast(ctxT(t), "other@127.0.0.1", "t", "not for elixir"); err != nil {
		t.Fatal(err)
	}
	p.Do(map[string]any{"cmd": "broadcast", "topic": "t", "payload": "after"})
	if got := receive(t, s, 10*time.Second).Payload; got != "after" {
		t.Errorf("Go received %#v, want only the last broadcast", got)
	}
	if ev := p.Message("t"); ev["payload"] != "after" {
		t.Errorf("the peer received %v, want only its own last broadcast", ev["payload"])
	}
	if ast := a.Stats(); ast.Ignored < 2 || ast.Undecodable != 0 {
		t.Errorf("adapter stats %+v", ast)
	}
}
