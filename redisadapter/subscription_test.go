package redisadapter

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/auth"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/ratelog"
	"github.com/phxgo/pubsub/internal/wire"
)

// fakeHost is a pubsub.Host that keeps the last frame it was handed, and allocates nothing.
type fakeHost struct {
	frames int
	last   string
}

func (h *fakeHost) Name() string                             { return "app" }
func (h *fakeHost) Incarnation() [16]byte                    { return [16]byte{1} }
func (h *fakeHost) Logger() *slog.Logger                     { return slog.New(slog.DiscardHandler) }
func (h *fakeHost) HandleFrame(frame string) error           { h.frames++; h.last = frame; return nil }
func (h *fakeHost) HandleMessage(pubsub.RemoteMessage) error { return nil }
func (h *fakeHost) HandleGap(error)                          {}

// receivingAdapter is an adapter as Start leaves it, as far as the receive path goes.
func receivingAdapter(maxSize int) (*Adapter, *fakeHost) {
	h := &fakeHost{}
	a := &Adapter{cfg: Config{NodeName: "me", MaxMessageSize: maxSize}, host: h, incarnation: h.Incarnation()}
	a.log = slog.New(slog.DiscardHandler)
	a.rlog = ratelog.New(a.log, 10*time.Second)
	a.channels = newChannels(DefaultChannelPrefix, h.Name())
	a.bcast, a.own = a.channels.broadcast(), a.channels.node("me")
	return a, h
}

func testFrameFrom(t testing.TB, inc [16]byte, payload string) string {
	t.Helper()
	f, err := wire.Append(nil, &wire.Envelope{Kind: wire.KindBroadcast, Origin: "n", Incarnation: inc, Seq: 1,
		Topic: "t", PayloadType: "string", Payload: []byte(payload)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(f)
}

// The receive path allocates nothing for a frame it drops (this node's own echo, a frame over
// MaxMessageSize, whatever length it declares) and exactly once (the copy handed to the PubSub) for a
// frame it delivers.
func TestReceiveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact under the race detector")
	}
	a, h := receivingAdapter(4096)
	own := testFrameFrom(t, a.incarnation, "echo")
	other := testFrameFrom(t, [16]byte{2}, "from another node")
	for _, tc := range []struct {
		name   string
		stream string
		want   float64
	}{
		{"own echo", respMessage(a.bcast, own), 0},
		{"own probe", respMessage(a.own, string(a.probeFrame())), 0},
		{"too large", respMessage(a.bcast, strings.Repeat("x", 100_000)), 0},
		{"delivered", respMessage(a.bcast, other), 1},
	} {
		rd := newRESPReader(&cyclicReader{data: []byte(tc.stream), chunk: 1500}, a.cfg.MaxMessageSize)
		step := func() {
			ev, err := rd.next()
			if err != nil {
				t.Fatal(err)
			}
			a.handleEvent(ev)
		}
		step() // the first too-large frame is logged
		if got := testing.AllocsPerRun(200, step); got != tc.want {
			t.Errorf("%s: %v allocations per frame, want %v", tc.name, got, tc.want)
		}
	}
	st := a.stats.snapshot()
	if st.Received != 202 || st.DroppedTooLarge != 202 || h.frames != 202 {
		t.Errorf("stats %+v, host handed %d frames; want 202 received and 202 too large", st, h.frames)
	}
}

// What the PubSub is handed is a copy: reading the next frame, which reuses the reader's buffer, does
// not change it.
func TestReceiveHandsACopy(t *testing.T) {
	a, h := receivingAdapter(4096)
	first, second := testFrameFrom(t, [16]byte{2}, "first"), testFrameFrom(t, [16]byte{2}, "other")
	rd := newRESPReader(strings.NewReader(respMessage(a.bcast, first)+respMessage(a.bcast, second)), 4096)
	ev, err := rd.next()
	if err != nil {
		t.Fatal(err)
	}
	a.handleEvent(ev)
	kept := h.last
	rd.br.Reset(strings.NewReader(respMessage(a.bcast, second))) // the same buffer, overwritten
	if ev, err = rd.next(); err != nil {
		t.Fatal(err)
	}
	a.handleEvent(ev)
	if kept != first || h.last != second {
		t.Fatalf("the frames handed over changed under the PubSub")
	}
}

// The adapter subscribes on its own connection for a *redis.Client (plain or failover) and a
// ClusterClient that reads from masters, and falls back to go-redis's subscription for any other
// client kind (a Ring here) and for options it cannot honour (a custom OnConnect, a StreamingCredentials
// provider, a ClusterClient reading from replicas). Both deliver.
func TestSubscriptionKind(t *testing.T) {
	m := miniredis.RunT(t)
	for _, tc := range []struct {
		name   string
		client func() redis.UniversalClient
		raw    bool
	}{
		{"client", func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: m.Addr()}) }, true},
		{"ring", func() redis.UniversalClient {
			return redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"one": m.Addr()}})
		}, false},
		{"OnConnect", func() redis.UniversalClient {
			return redis.NewClient(&redis.Options{Addr: m.Addr(), OnConnect: func(context.Context, *redis.Conn) error { return nil }})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := tc.client()
			defer client.Close()
			name := "kind-" + tc.name
			nodes := make([]*pubsub.PubSub, 2)
			adapters := make([]*Adapter, 2)
			for i, node := range []string{"a", "b"} {
				a, err := New(Config{Client: client, NodeName: node, ProbeInterval: 50 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: a})
				if err != nil {
					t.Fatal(err)
				}
				defer ps.Close()
				nodes[i], adapters[i] = ps, a
			}
			_, raw := adapters[1].recv.current().(*rawSub)
			if raw != tc.raw {
				t.Errorf("subscription %T, want raw %v", adapters[1].recv.current(), tc.raw)
			}
			s, err := nodes[1].NewSubscriber()
			if err != nil {
				t.Fatal(err)
			}
			s.Subscribe("t")
			if err := nodes[0].Broadcast(context.Background(), "t", "hi"); err != nil {
				t.Fatal(err)
			}
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if msg, err := s.Receive(c); err != nil || msg.Payload != "hi" {
				t.Fatalf("received %+v, %v", msg, err)
			}
			time.Sleep(200 * time.Millisecond) // a few probes: none missed
			if st := adapters[1].Stats(); st.ProbeFailures != 0 || st.Reconnects != 0 || st.Received != 1 {
				t.Errorf("b: %+v", st)
			}
		})
	}
	// Options rawOptions declines without dialing.
	for name, client := range map[string]redis.UniversalClient{
		"cluster ReadOnly":       redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{m.Addr()}, ReadOnly: true}),
		"cluster RouteByLatency": redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{m.Addr()}, RouteByLatency: true}),
		"streaming credentials":  redis.NewClient(&redis.Options{Addr: m.Addr(), StreamingCredentialsProvider: noStreamingCreds{}}),
	} {
		if opt, err := rawOptions(context.Background(), client, "ch"); opt != nil || err != nil {
			t.Errorf("%s: rawOptions = %v, %v; want the fallback", name, opt, err)
		}
		client.Close()
	}
}

// noStreamingCreds is a StreamingCredentialsProvider that is never asked.
type noStreamingCreds struct{}

func (noStreamingCreds) Subscribe(auth.CredentialsListener) (auth.Credentials, auth.UnsubscribeFunc, error) {
	return nil, nil, errors.New("not used")
}
