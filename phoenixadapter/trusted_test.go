package phoenixadapter_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// BroadcastTrusted and DirectBroadcastTrusted publish well-formed frames whose atoms Config.Atoms does
// not list, deliver nothing locally, and refuse what does not encode.
func TestBroadcastTrusted(t *testing.T) {
	_, url := miniURL(t)
	ps, a := newNode(t, phoenixadapter.Config{URL: url, NodeName: "go@host"}, pubsub.Config{})
	raw := newRawSubscriber(t, url, phoenixadapter.ChannelName("MyApp.PubSub"))
	local := subscribe(t, ps, "phx_presence:x")
	msg := phoenixadapter.Tuple{phoenixadapter.Atom("pub"), phoenixadapter.Atom("heartbeat"), int64(1)}

	if err := a.BroadcastTrusted(ctxT(t), "phx_presence:x", msg); err != nil {
		t.Fatal(err)
	}
	f, err := phoenixadapter.DecodeFrame(string(raw.next(t)), 0)
	if err != nil || f.Direct || f.Node != "go@host" || f.Topic != "phx_presence:x" || !reflect.DeepEqual(f.Payload, msg) ||
		f.Dispatcher != phoenixadapter.PubSubDispatcher {
		t.Fatalf("broadcast frame %+v, %v", f, err)
	}
	if err := a.DirectBroadcastTrusted(ctxT(t), "elixir@host", "phx_presence:x", msg); err != nil {
		t.Fatal(err)
	}
	if f, err = phoenixadapter.DecodeFrame(string(raw.next(t)), 0); err != nil || !f.Direct || f.Node != "elixir@host" {
		t.Fatalf("direct frame %+v, %v", f, err)
	}
	quiet(t, local, 100*time.Millisecond)

	if err := a.DirectBroadcastTrusted(ctxT(t), "", "t", msg); !errors.Is(err, phoenixadapter.ErrUnencodable) {
		t.Errorf("an empty node: %v", err)
	}
	if err := a.BroadcastTrusted(ctxT(t), "t", make(chan int)); !errors.Is(err, phoenixadapter.ErrUnencodable) {
		t.Errorf("a channel: %v", err)
	}
	if st := a.Stats(); st.Refused != 2 {
		t.Errorf("Stats.Refused = %d, want 2", st.Refused)
	}
	ps.Close()
	if err := a.BroadcastTrusted(ctxT(t), "t", msg); !errors.Is(err, pubsub.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
