package fastlane_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/fastlane"
)

type update struct {
	Round int    `json:"round"`
	Body  string `json:"body,omitempty"`
}

// newFastlane starts a PubSub with fl registered as fastlane.Name.
func newFastlane(t testing.TB, fl *fastlane.Dispatcher) *pubsub.PubSub {
	t.Helper()
	ps, err := pubsub.New(context.Background(), pubsub.Config{
		Name:        "fastlane_test",
		Dispatchers: map[string]pubsub.Dispatcher{fastlane.Name: fl},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

// countingEncoder wraps JSONEncoder and counts its calls.
func countingEncoder(n *atomic.Int64) fastlane.Encoder {
	return func(msg pubsub.Message) ([]byte, error) {
		n.Add(1)
		return fastlane.JSONEncoder(msg)
	}
}

// recorder is a FrameWriter that keeps every frame.
type recorder struct {
	mu     sync.Mutex
	frames [][]byte
}

func (r *recorder) WriteFrame(frame []byte) bool {
	r.mu.Lock()
	r.frames = append(r.frames, frame)
	r.mu.Unlock()
	return true
}

func (r *recorder) got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.frames...)
}

// join subscribes a new subscriber of ps to topic with opts.
func join(t testing.TB, ps *pubsub.PubSub, topic string, opts ...pubsub.SubscribeOption) *pubsub.Subscriber {
	t.Helper()
	s, err := ps.NewSubscriber(pubsub.WithMailboxSize(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(topic, opts...); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return s
}

func broadcast(t testing.TB, ps *pubsub.PubSub, topic string, payload any) {
	t.Helper()
	if err := ps.Broadcast(context.Background(), topic, payload, pubsub.WithDispatcher(fastlane.Name)); err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
}

func assertNoMessage(t testing.TB, s *pubsub.Subscriber) {
	t.Helper()
	select {
	case msg := <-s.C():
		t.Fatalf("subscriber %d got %+v, want nothing", s.ID(), msg)
	default:
	}
}

func assertMessage(t testing.TB, s *pubsub.Subscriber, want pubsub.Message) {
	t.Helper()
	select {
	case msg := <-s.C():
		if msg != want {
			t.Fatalf("subscriber %d got %+v, want %+v", s.ID(), msg, want)
		}
	default:
		t.Fatalf("subscriber %d got nothing, want %+v", s.ID(), want)
	}
}

func assertFrames(t testing.TB, name string, w *recorder, want ...string) {
	t.Helper()
	got := w.got()
	if len(got) != len(want) {
		t.Fatalf("%s has %d frames %q, want %q", name, len(got), got, want)
	}
	for i := range got {
		if string(got[i]) != want[i] {
			t.Fatalf("%s frame %d = %s, want %s", name, i, got[i], want[i])
		}
	}
}

func TestFastlaneEncodesOncePerBroadcast(t *testing.T) {
	var calls atomic.Int64
	fl := &fastlane.Dispatcher{Encoder: countingEncoder(&calls)}
	ps := newFastlane(t, fl)

	const n = 100
	writers := make([]*recorder, n)
	for i := range writers {
		writers[i] = &recorder{}
		join(t, ps, "room:1", fastlane.WithWriter(writers[i]))
	}
	plain := join(t, ps, "room:1")

	for round := 1; round <= 3; round++ {
		broadcast(t, ps, "room:1", update{Round: round})
		if got := calls.Load(); got != int64(round) {
			t.Fatalf("after %d broadcasts to %d writers, encoder called %d times", round, n, got)
		}
		want := fmt.Sprintf(`{"topic":"room:1","payload":{"round":%d}}`, round)
		shared := writers[0].got()[round-1]
		for i, w := range writers {
			frames := w.got()
			if len(frames) != round {
				t.Fatalf("writer %d has %d frames, want %d", i, len(frames), round)
			}
			f := frames[round-1]
			if string(f) != want {
				t.Fatalf("writer %d got %s, want %s", i, f, want)
			}
			if &f[0] != &shared[0] {
				t.Fatalf("writer %d got its own copy of the frame, want the shared one", i)
			}
		}
		assertMessage(t, plain, pubsub.Message{Topic: "room:1", Payload: update{Round: round}})
	}
	if got, want := fl.Stats(), (fastlane.Stats{Encodes: 3, Writes: 3 * n}); got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}

func TestFastlaneMetadataForms(t *testing.T) {
	fl := &fastlane.Dispatcher{}
	ps := newFastlane(t, fl)
	byOption, byValue, byPointer := &recorder{}, &recorder{}, &recorder{}
	join(t, ps, "t", fastlane.WithWriter(byOption))
	join(t, ps, "t", pubsub.WithMetadata(fastlane.Metadata{Writer: byValue}))
	join(t, ps, "t", pubsub.WithMetadata(&fastlane.Metadata{Writer: byPointer}))
	other := join(t, ps, "t", pubsub.WithMetadata("not a fastlane"))

	broadcast(t, ps, "t", "hi")
	const want = `{"topic":"t","payload":"hi"}`
	assertFrames(t, "WithWriter writer", byOption, want)
	assertFrames(t, "Fastlane value writer", byValue, want)
	assertFrames(t, "*Fastlane writer", byPointer, want)
	assertMessage(t, other, pubsub.Message{Topic: "t", Payload: "hi"})
}

func TestFastlaneSkipsFrom(t *testing.T) {
	var calls atomic.Int64
	fl := &fastlane.Dispatcher{Encoder: countingEncoder(&calls)}
	ps := newFastlane(t, fl)
	ctx := context.Background()
	opt := pubsub.WithDispatcher(fastlane.Name)

	senderW, otherW := &recorder{}, &recorder{}
	sender := join(t, ps, "room", fastlane.WithWriter(senderW))
	if err := sender.Subscribe("room", fastlane.WithWriter(senderW)); err != nil { // a duplicate: skipped too
		t.Fatal(err)
	}
	join(t, ps, "room", fastlane.WithWriter(otherW))
	plainSender := join(t, ps, "room")
	plainOther := join(t, ps, "room")

	if err := ps.BroadcastFrom(ctx, sender, "room", "from fastlane", opt); err != nil {
		t.Fatal(err)
	}
	assertFrames(t, "sender", senderW)
	assertFrames(t, "other", otherW, `{"topic":"room","payload":"from fastlane"}`)
	assertMessage(t, plainSender, pubsub.Message{Topic: "room", Payload: "from fastlane"})
	assertMessage(t, plainOther, pubsub.Message{Topic: "room", Payload: "from fastlane"})

	if err := ps.LocalBroadcastFrom(plainSender, "room", "from plain", opt); err != nil {
		t.Fatal(err)
	}
	assertNoMessage(t, plainSender)
	assertMessage(t, plainOther, pubsub.Message{Topic: "room", Payload: "from plain"})
	assertFrames(t, "sender", senderW, `{"topic":"room","payload":"from plain"}`, `{"topic":"room","payload":"from plain"}`)

	// When the sender holds the only fastlane entries, nothing is encoded.
	lone := join(t, ps, "lone", fastlane.WithWriter(&recorder{}))
	join(t, ps, "lone")
	before := calls.Load()
	if err := ps.BroadcastFrom(ctx, lone, "lone", "x", opt); err != nil {
		t.Fatal(err)
	}
	if got := calls.Load() - before; got != 0 {
		t.Fatalf("encoder called %d times with no fastlane entry to write to", got)
	}
}

func TestFastlaneNilWriterSkipped(t *testing.T) {
	var calls atomic.Int64
	fl := &fastlane.Dispatcher{Encoder: countingEncoder(&calls)}
	ps := newFastlane(t, fl)
	nilOption := join(t, ps, "t", fastlane.WithWriter(nil))
	zeroValue := join(t, ps, "t", pubsub.WithMetadata(fastlane.Metadata{}))
	nilPointer := join(t, ps, "t", pubsub.WithMetadata((*fastlane.Metadata)(nil)))

	broadcast(t, ps, "t", "x")
	for _, s := range []*pubsub.Subscriber{nilOption, zeroValue, nilPointer} {
		assertNoMessage(t, s)
	}
	if calls.Load() != 0 {
		t.Fatalf("encoder called %d times for nil writers only", calls.Load())
	}

	w := &recorder{}
	join(t, ps, "t", fastlane.WithWriter(w))
	broadcast(t, ps, "t", "y")
	assertFrames(t, "writer", w, `{"topic":"t","payload":"y"}`)
	if got, want := fl.Stats(), (fastlane.Stats{Encodes: 1, Writes: 1, NilWriters: 6}); got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}

func TestFastlaneEncodeError(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		encoder fastlane.Encoder
		want    string
	}{
		{"error", func(pubsub.Message) ([]byte, error) { return nil, boom }, "boom"},
		{"panic", func(pubsub.Message) ([]byte, error) { panic("kaboom") }, "encoder panicked: kaboom"},
		{"json", fastlane.JSONEncoder, "unsupported type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reported []error
			fl := &fastlane.Dispatcher{
				Encoder:       tc.encoder,
				OnEncodeError: func(_ pubsub.Message, err error) { reported = append(reported, err) },
			}
			ps := newFastlane(t, fl)
			w1, w2 := &recorder{}, &recorder{}
			join(t, ps, "t", fastlane.WithWriter(w1))
			plain := join(t, ps, "t")
			join(t, ps, "t", fastlane.WithWriter(w2))

			payload := make(chan int) // JSON cannot encode a channel
			broadcast(t, ps, "t", payload)

			assertFrames(t, "w1", w1)
			assertFrames(t, "w2", w2)
			assertMessage(t, plain, pubsub.Message{Topic: "t", Payload: payload})
			if len(reported) != 1 || !strings.Contains(reported[0].Error(), tc.want) {
				t.Fatalf("OnEncodeError got %v, want one error mentioning %q", reported, tc.want)
			}
			if got, want := fl.Stats(), (fastlane.Stats{Encodes: 1, EncodeErrors: 1}); got != want {
				t.Fatalf("Stats = %+v, want %+v", got, want)
			}
		})
	}
}

func TestFastlaneEncodeErrorWithoutCallback(t *testing.T) {
	fl := &fastlane.Dispatcher{}
	ps := newFastlane(t, fl)
	w := &recorder{}
	join(t, ps, "t", fastlane.WithWriter(w))
	broadcast(t, ps, "t", func() {})
	assertFrames(t, "w", w)
	if got := fl.Stats().EncodeErrors; got != 1 {
		t.Fatalf("EncodeErrors = %d, want 1", got)
	}
}

func TestFastlaneCountsDrops(t *testing.T) {
	fl := &fastlane.Dispatcher{}
	ps := newFastlane(t, fl)
	w := fastlane.NewChanWriter(1)
	join(t, ps, "t", fastlane.WithWriter(w))
	broadcast(t, ps, "t", 1)
	broadcast(t, ps, "t", 2)
	if got := string(<-w.C()); got != `{"topic":"t","payload":1}` {
		t.Fatalf("queued frame = %s", got)
	}
	if w.Dropped() != 1 {
		t.Fatalf("ChanWriter.Dropped = %d, want 1", w.Dropped())
	}
	if got, want := fl.Stats(), (fastlane.Stats{Encodes: 2, Writes: 1, Drops: 1}); got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}

func TestJSONEncoder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload any
		want    string
		err     error
	}{
		{"struct uses json tags", update{Round: 7, Body: "b"}, `{"topic":"x","payload":{"round":7,"body":"b"}}`, nil},
		{"nil", nil, `{"topic":"x","payload":null}`, nil},
		{"bytes are base64", []byte("hi"), `{"topic":"x","payload":"aGk="}`, nil},
		{"encoded from another node", pubsub.Encoded{Data: []byte{0xc0}}, "", fastlane.ErrEncodedPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fastlane.JSONEncoder(pubsub.Message{Topic: "x", Payload: tc.payload})
			if !errors.Is(err, tc.err) || string(got) != tc.want {
				t.Fatalf("JSONEncoder = %s, %v; want %s, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestFastlaneDispatchDirect calls Dispatch as a remote delivery would (from nil) and with entries that
// the dispatcher must not touch after it returns.
func TestFastlaneDispatchDirect(t *testing.T) {
	ps := newFastlane(t, &fastlane.Dispatcher{})
	fl := &fastlane.Dispatcher{Encoder: func(m pubsub.Message) ([]byte, error) {
		return []byte(m.Topic + ":" + m.Payload.(string)), nil
	}}
	w := &recorder{}
	s, err := ps.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	entries := []pubsub.Entry{{Subscriber: s, Metadata: fastlane.Metadata{Writer: w}}, {Subscriber: s}}
	fl.Dispatch(entries, nil, pubsub.Message{Topic: "a", Payload: "b"})
	assertFrames(t, "w", w, "a:b")
	assertMessage(t, s, pubsub.Message{Topic: "a", Payload: "b"})
}

func TestFastlaneConcurrentBroadcasters(t *testing.T) {
	var calls atomic.Int64
	fl := &fastlane.Dispatcher{Encoder: countingEncoder(&calls)}
	ps := newFastlane(t, fl)

	const (
		topics       = 4
		writersEach  = 25
		broadcasters = 8
		perCaster    = 50
	)
	var writers []*fastlane.ChanWriter
	for i := range topics {
		for range writersEach {
			w := fastlane.NewChanWriter(broadcasters * perCaster)
			writers = append(writers, w)
			join(t, ps, fmt.Sprintf("topic:%d", i), fastlane.WithWriter(w))
		}
	}
	// Subscribing and unsubscribing while broadcasts run must not disturb them.
	churn, err := ps.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	defer churn.Close()

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			topic := fmt.Sprintf("topic:%d", i%topics)
			churn.Subscribe(topic, fastlane.WithWriter(nil))
			churn.Unsubscribe(topic)
		}
	})
	var casters sync.WaitGroup
	for b := range broadcasters {
		casters.Go(func() {
			for i := range perCaster {
				topic := fmt.Sprintf("topic:%d", (b+i)%topics)
				if err := ps.Broadcast(context.Background(), topic, update{Round: i}, pubsub.WithDispatcher(fastlane.Name)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	casters.Wait()
	close(stop)
	wg.Wait()

	const total = broadcasters * perCaster
	if calls.Load() != total {
		t.Fatalf("encoder called %d times for %d broadcasts", calls.Load(), total)
	}
	st := fl.Stats()
	if st.Encodes != total || st.Writes != total*writersEach || st.Drops != 0 || st.EncodeErrors != 0 {
		t.Fatalf("Stats = %+v, want %d encodes and %d writes", st, total, total*writersEach)
	}
	for i, w := range writers {
		if got := len(w.C()); got*topics != total {
			t.Fatalf("writer %d has %d frames, want %d", i, got, total/topics)
		}
	}
}

func TestChanWriter(t *testing.T) {
	var zero fastlane.ChanWriter
	if zero.WriteFrame([]byte("x")) || zero.Dropped() != 1 || zero.C() != nil {
		t.Fatal("zero ChanWriter must drop and count")
	}
	w := fastlane.NewChanWriter(0) // rounded up to 1
	if !w.WriteFrame([]byte("a")) || w.WriteFrame([]byte("b")) || w.Dropped() != 1 {
		t.Fatalf("NewChanWriter(0): want room for exactly one frame, dropped %d", w.Dropped())
	}
	if got := string(<-w.C()); got != "a" {
		t.Fatalf("got %q, want a", got)
	}
}

// discard is a FrameWriter that counts frames and keeps none. Benchmarks use it from one goroutine.
type discard struct{ frames, bytes int }

func (d *discard) WriteFrame(frame []byte) bool {
	d.frames++
	d.bytes += len(frame)
	return true
}

// BenchmarkFanout broadcasts one message to 10 000 connections on one topic. "fastlane" encodes once and
// writes the shared frame to every writer; "encode-per-writer" is the baseline without a fastlane, where
// each connection encodes the message itself.
func BenchmarkFanout(b *testing.B) {
	const conns = 10_000
	payload := update{Round: 42, Body: "the quick brown fox jumps over the lazy dog"}
	perWriter := pubsub.DispatcherFunc(func(entries []pubsub.Entry, from *pubsub.Subscriber, msg pubsub.Message) {
		for _, e := range entries {
			if fl, ok := e.Metadata.(fastlane.Metadata); ok && e.Subscriber != from {
				if frame, err := fastlane.JSONEncoder(msg); err == nil {
					fl.Writer.WriteFrame(frame)
				}
			}
		}
	})
	for _, bc := range []struct {
		name string
		d    pubsub.Dispatcher
	}{
		{"fastlane", &fastlane.Dispatcher{}},
		{"encode-per-writer", perWriter},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "bench", Dispatchers: map[string]pubsub.Dispatcher{"d": bc.d}})
			if err != nil {
				b.Fatal(err)
			}
			defer ps.Close()
			writers := make([]discard, conns)
			for i := range writers {
				s, err := ps.NewSubscriber(pubsub.WithMailboxSize(1))
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Subscribe("room:big", fastlane.WithWriter(&writers[i])); err != nil {
					b.Fatal(err)
				}
			}
			ctx, opt := context.Background(), pubsub.WithDispatcher("d")
			b.ReportAllocs()
			for b.Loop() {
				if err := ps.Broadcast(ctx, "room:big", payload, opt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*conns), "ns/write")
			if writers[conns-1].frames != b.N {
				b.Fatalf("last writer got %d frames, want %d", writers[conns-1].frames, b.N)
			}
		})
	}
}
