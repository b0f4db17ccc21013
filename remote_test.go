package pubsub_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
)

type remoteUpdate struct {
	ID   int
	Name string
}

type unregistered struct {
	A int
	B []string
}

func init() { pubsub.MustRegisterType[remoteUpdate]("pubsub_test.remoteUpdate") }

// cluster starts n PubSubs, nodes n0, n1… of one pubsubtest.Cluster. Delivery between them is
// asynchronous: receive waits for it; before asserting that a node received nothing, run the test in a
// synctest bubble and call synctest.Wait.
func cluster(t *testing.T, n int, cfg pubsub.Config) ([]*pubsub.PubSub, *pubsubtest.Cluster) {
	t.Helper()
	c := pubsubtest.NewCluster()
	nodes := make([]*pubsub.PubSub, n)
	for i := range nodes {
		cfg := cfg
		cfg.Adapter = c.Adapter("n" + string(rune('0'+i)))
		nodes[i] = newPS(t, cfg)
	}
	return nodes, c
}

func TestRemotePayloadsKeepTheirType(t *testing.T) {
	nodes, _ := cluster(t, 2, pubsub.Config{})
	sub := subscribe(t, nodes[1], "t")
	payloads := []any{remoteUpdate{ID: 123, Name: "Shane"}, []byte{0, 1, 2}, "text", nil}
	for _, p := range payloads {
		if err := nodes[0].Broadcast(ctx, "t", p); err != nil {
			t.Fatal(err)
		}
	}
	if got := receive(t, sub).Payload; got != (remoteUpdate{ID: 123, Name: "Shane"}) {
		t.Errorf("registered type arrived as %#v", got)
	}
	if got, ok := receive(t, sub).Payload.([]byte); !ok || !bytes.Equal(got, []byte{0, 1, 2}) {
		t.Errorf("[]byte arrived as %#v", got)
	}
	if got := receive(t, sub).Payload; got != "text" {
		t.Errorf("string arrived as %#v", got)
	}
	if got := receive(t, sub).Payload; got != nil {
		t.Errorf("nil arrived as %#v", got)
	}

	nodes[0].Broadcast(ctx, "t", unregistered{A: 1, B: []string{"x"}})
	msg := receive(t, sub)
	if !isEncoded(msg.Payload) {
		t.Fatalf("unregistered type arrived as %#v, want pubsub.Encoded", msg.Payload)
	}
	var u unregistered
	if err := msg.Decode(&u); err != nil || u.A != 1 || len(u.B) != 1 || u.B[0] != "x" {
		t.Fatalf("Decode: %v %+v", err, u)
	}
}

func isEncoded(v any) bool { _, ok := v.(pubsub.Encoded); return ok }

func TestRemoteBroadcastFamily(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var seenFrom []*pubsub.Subscriber
		d := pubsub.DispatcherFunc(func(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
			seenFrom = append(seenFrom, from)
			pubsub.DefaultDispatcher().Dispatch(entries, from, msg)
		})
		nodes, _ := cluster(t, 3, pubsub.Config{Dispatchers: map[string]pubsub.Dispatcher{"d": d}})
		subs := make([]*pubsub.Subscriber, 3)
		for i, n := range nodes {
			subs[i] = subscribe(t, n, "t")
		}
		nodes[0].BroadcastFrom(ctx, subs[0], "t", "from0")
		synctest.Wait() // every node has handled the frame
		assertEmpty(t, subs[0])
		for _, s := range subs[1:] {
			if receive(t, s).Payload != "from0" {
				t.Fatal("BroadcastFrom did not reach another node")
			}
		}
		nodes[0].LocalBroadcast("t", "local")
		synctest.Wait()
		receive(t, subs[0])
		assertEmpty(t, subs[1])
		assertEmpty(t, subs[2])

		nodes[0].DirectBroadcast(ctx, "n2", "t", "direct", pubsub.WithDispatcher("d"))
		synctest.Wait()
		assertEmpty(t, subs[0])
		assertEmpty(t, subs[1])
		if receive(t, subs[2]).Payload != "direct" {
			t.Fatal("DirectBroadcast missed its node")
		}
		if len(seenFrom) != 1 || seenFrom[0] != nil {
			t.Fatalf("remote dispatcher saw from = %v, want one call with nil", seenFrom)
		}
	})
}

func TestAdapterErrorSkipsLocalDelivery(t *testing.T) {
	c := pubsubtest.NewCluster()
	ps := newPS(t, pubsub.Config{Adapter: c.Adapter("a")})
	s := subscribe(t, ps, "t")
	boom := errors.New("boom")
	c.FailSends(boom)
	if err := ps.Broadcast(ctx, "t", 1); !errors.Is(err, boom) {
		t.Fatalf("Broadcast err = %v, want the adapter's", err)
	}
	if err := ps.DirectBroadcast(ctx, "b", "t", 1); !errors.Is(err, boom) {
		t.Fatalf("DirectBroadcast err = %v, want the adapter's", err)
	}
	func() {
		defer func() {
			if be, ok := recover().(*pubsub.BroadcastError); !ok || !errors.Is(be, boom) {
				t.Fatalf("MustBroadcast panicked with %v", be)
			}
		}()
		ps.MustBroadcast(ctx, "t", 1)
	}()
	assertEmpty(t, s)
	if err := ps.LocalBroadcast("t", 2); err != nil {
		t.Fatal(err)
	}
	receive(t, s)
}

// nopAdapter is an adapter that sends nothing and receives nothing, for tests to embed.
type nopAdapter struct{}

func (nopAdapter) Start(context.Context, pubsub.Host) error                    { return nil }
func (nopAdapter) NodeName() string                                            { return "nop" }
func (nopAdapter) Broadcast(context.Context, pubsub.Frame) error               { return nil }
func (nopAdapter) DirectBroadcast(context.Context, string, pubsub.Frame) error { return nil }
func (nopAdapter) Close() error                                                { return nil }

type failingAdapter struct{ nopAdapter }

func (*failingAdapter) Start(context.Context, pubsub.Host) error { return errors.New("no redis") }

// closeCounter is an adapter that counts its Close calls.
type closeCounter struct {
	nopAdapter
	closes int
}

func (c *closeCounter) Close() error { c.closes++; return nil }

func TestAdapterStartErrorFailsNew(t *testing.T) {
	_, err := pubsub.New(context.Background(), pubsub.Config{Name: "x", Adapter: &failingAdapter{}})
	if err == nil || err.Error() != "pubsub: start adapter: no redis" {
		t.Fatalf("err = %v", err)
	}
}

// The PubSub owns its adapter from New on: a failed New has closed it, once.
func TestNewClosesTheAdapterWhenItFails(t *testing.T) {
	bad := &closeCounter{}
	if _, err := pubsub.New(context.Background(), pubsub.Config{Adapter: bad}); !errors.Is(err, pubsub.ErrInvalidConfig) {
		t.Fatalf("New without a Name: %v", err)
	}
	if bad.closes != 1 {
		t.Errorf("adapter closed %d times after a config error, want 1", bad.closes)
	}
}

// HandleFrame drops bad frames and says why; nothing reaches subscribers.
func TestHandleFrameRejectsBadFrames(t *testing.T) {
	nodes, c := cluster(t, 2, pubsub.Config{})
	sub := subscribe(t, nodes[1], "t")

	for name, tc := range map[string]struct {
		frame string
		want  error
	}{
		"garbage":    {"hello", pubsub.ErrBadFrame},
		"empty":      {"", pubsub.ErrBadFrame},
		"truncated":  {capture(t, "t", "x")[:20], pubsub.ErrBadFrame},
		"dispatcher": {captureWith(t, "t", "x", "only-here"), pubsub.ErrUnknownDispatcher},
		"type":       {captureType(t), pubsub.ErrUnknownType},
	} {
		if err := c.Inject("n1", []byte(tc.frame)); !errors.Is(err, tc.want) {
			t.Errorf("%s: HandleFrame = %v, want %v", name, err, tc.want)
		}
	}
	assertEmpty(t, sub)
}

// capture returns the frame ps sends for a broadcast.
func capture(t *testing.T, topic string, payload any) string {
	t.Helper()
	rec := &recorder{}
	p := newPS(t, pubsub.Config{Adapter: rec})
	if err := p.Broadcast(ctx, topic, payload); err != nil {
		t.Fatal(err)
	}
	return rec.frames[0]
}

func captureWith(t *testing.T, topic string, payload any, dispatcher string) string {
	rec := &recorder{}
	p := newPS(t, pubsub.Config{Adapter: rec, Dispatchers: map[string]pubsub.Dispatcher{dispatcher: pubsub.DefaultDispatcher()}})
	if err := p.Broadcast(ctx, topic, payload, pubsub.WithDispatcher(dispatcher)); err != nil {
		t.Fatal(err)
	}
	return rec.frames[0]
}

type onlyOnSender struct{ V int }

// captureType returns a frame whose payload type name is registered on no receiving node: the type is
// registered under a name, the frame captured, and the name then doctored so no node knows it.
func captureType(t *testing.T) string {
	pubsub.MustRegisterType[onlyOnSender]("pubsub_test.onlyOnSender")
	f := capture(t, "t", onlyOnSender{1})
	return string(bytes.Replace([]byte(f), []byte("pubsub_test.onlyOnSender"), []byte("pubsub_test.onlyOnSendeX"), 1))
}

// recorder is an adapter that keeps what it is asked to send.
type recorder struct {
	nopAdapter
	host   pubsub.Host
	frames []string
}

func (r *recorder) Start(_ context.Context, h pubsub.Host) error { r.host = h; return nil }
func (r *recorder) NodeName() string                             { return "recorder" }
func (r *recorder) Broadcast(_ context.Context, f pubsub.Frame) error {
	r.frames = append(r.frames, string(f.Bytes))
	return nil
}
func (r *recorder) Close() error { return nil }

func TestHandleGapAnnouncesOnGapTopic(t *testing.T) {
	nodes, c := cluster(t, 1, pubsub.Config{})
	s := subscribe(t, nodes[0], pubsub.GapTopic)
	if err := c.Disrupt("n0"); err != nil { // the transport calls HandleGap(pubsubtest.ErrDisrupted)
		t.Fatal(err)
	}
	gap, ok := receive(t, s).Payload.(pubsub.Gap)
	if !ok || gap.Node != "n0" || !errors.Is(gap.Reason, pubsubtest.ErrDisrupted) {
		t.Fatalf("got %#v", gap)
	}
}

// A node's own frames (same incarnation) are ignored if an adapter hands them back.
func TestHandleFrameSkipsOwnIncarnation(t *testing.T) {
	rec := &recorder{}
	ps := newPS(t, pubsub.Config{Adapter: rec})
	s := subscribe(t, ps, "t")
	ps.Broadcast(ctx, "t", 1)
	receive(t, s)
	if err := rec.host.HandleFrame(rec.frames[0]); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, s)
}
