package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/wire"
)

// sealingAdapter is a FrameSealer whose Broadcast hands each call to the test (calls) and waits for the
// test's answer, so that the test decides when, and in which order, frames are sealed.
type sealingAdapter struct {
	nopAdapter
	calls chan sealCall
}

// sealCall is one Broadcast waiting: the test seals its frame (or not) and answers on done.
type sealCall struct {
	f    pubsub.Frame
	done chan error
}

func (a *sealingAdapter) SealsFrames() bool { return true }
func (a *sealingAdapter) NodeName() string  { return "sealer" }
func (a *sealingAdapter) Broadcast(ctx context.Context, f pubsub.Frame) error {
	c := sealCall{f: f, done: make(chan error)}
	a.calls <- c
	return <-c.done
}

// nextCall waits for the next Broadcast call.
func (a *sealingAdapter) nextCall(t *testing.T) sealCall {
	t.Helper()
	select {
	case c := <-a.calls:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no Broadcast call")
		return sealCall{}
	}
}

// seal seals c's frame into a frame to send, checks it, and releases the call.
func seal(t *testing.T, c sealCall) string {
	t.Helper()
	if c.f.Seal == nil {
		t.Fatal("a FrameSealer was handed a frame without Seal")
	}
	want := c.f.Seal.SealedLen()
	sealed := c.f.Seal.AppendSealed([]byte("prefix"))
	if string(sealed[:6]) != "prefix" || len(sealed)-6 != want {
		t.Fatalf("AppendSealed appended %d bytes (kept the prefix: %v); SealedLen said %d", len(sealed)-6, string(sealed[:6]) == "prefix", want)
	}
	c.done <- nil
	return string(sealed[6:])
}

// TestSealerNumbersInTheOrderOfSealing: with a FrameSealer adapter, a frame takes its number when the
// adapter seals it, not when Broadcast is called; a frame never sealed takes none; the frames,
// delivered in the order they were sealed, reach a receiver in order, none missing, none reordered.
func TestSealerNumbersInTheOrderOfSealing(t *testing.T) {
	for _, signed := range []bool{false, true} {
		t.Run(fmt.Sprintf("signed=%v", signed), func(t *testing.T) {
			var secrets [][]byte
			if signed {
				secrets = [][]byte{[]byte("a secret of thirty-two bytes....")}
			}
			sa := &sealingAdapter{calls: make(chan sealCall)}
			sender, err := pubsub.New(context.Background(), pubsub.Config{Name: "seal", Adapter: sa, Secrets: secrets})
			if err != nil {
				t.Fatal(err)
			}
			defer sender.Close()
			rec := &recorder{}
			receiver, err := pubsub.New(context.Background(), pubsub.Config{Name: "seal", Adapter: rec, Secrets: secrets})
			if err != nil {
				t.Fatal(err)
			}
			defer receiver.Close()
			sub := newSub(t, receiver)
			for _, topic := range []string{"t0", "t1", "t2", "t3", "t4"} {
				if err := sub.Subscribe(topic); err != nil {
					t.Fatal(err)
				}
			}

			// Three broadcasts in flight at once, called in the order t0, t1, t2.
			results := make(chan error, 5)
			var calls []sealCall
			for _, topic := range []string{"t0", "t1", "t2"} {
				go func() { results <- sender.Broadcast(context.Background(), topic, topic) }()
				c := sa.nextCall(t)
				if c.f.Topic != topic {
					t.Fatalf("call for %q, want %q", c.f.Topic, topic)
				}
				if f, err := wire.Decode(string(c.f.Bytes), wire.Limits{}); err != nil || f.Seq != 0 || f.Signed {
					t.Fatalf("the frame handed over is numbered or signed already (seq %d, signed %v, err %v)", f.Seq, f.Signed, err)
				}
				calls = append(calls, c)
			}
			// Sealed, as an adapter's queue might take them, in the order t2, t0, t1; then t3 is never
			// sealed (its broadcast fails before the wire), and t4 is.
			var wireOrder []string
			for _, i := range []int{2, 0, 1} {
				wireOrder = append(wireOrder, seal(t, calls[i]))
			}
			go func() { results <- sender.Broadcast(context.Background(), "t3", "t3") }()
			notSent := sa.nextCall(t)
			notSent.done <- errors.New("not sent")
			go func() { results <- sender.Broadcast(context.Background(), "t4", "t4") }()
			wireOrder = append(wireOrder, seal(t, sa.nextCall(t)))
			for range 5 {
				<-results
			}

			var seqs []uint64
			var topics []string
			for _, fr := range wireOrder {
				f, err := wire.DecodeSigned(fr, wire.Limits{}, "seal", secrets...)
				if err != nil {
					t.Fatalf("a sealed frame does not decode: %v", err)
				}
				if f.Signed != signed {
					t.Fatalf("sealed frame signed %v, want %v", f.Signed, signed)
				}
				seqs, topics = append(seqs, f.Seq), append(topics, f.Topic)
			}
			for i := 1; i < len(seqs); i++ {
				if seqs[i] != seqs[0]+uint64(i) {
					t.Fatalf("numbers in the order of sealing (%v): %v, want consecutive", topics, seqs)
				}
			}
			for _, fr := range wireOrder {
				if err := rec.host.HandleFrame(fr); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range []string{"t2", "t0", "t1", "t4"} {
				if got := receive(t, sub).Topic; got != want {
					t.Fatalf("received %q, want %q", got, want)
				}
			}
			if st := receiver.Stats(); st.Reordered != 0 || st.Gaps != 0 || st.Rebased != 0 || st.Dropped() != 0 {
				t.Fatalf("receiver stats %+v", st)
			}
		})
	}
}

// TestOtherAdaptersGetSealedFrames: an adapter that is not a FrameSealer is handed frames numbered
// already, and no Seal.
func TestOtherAdaptersGetSealedFrames(t *testing.T) {
	rec := &sealRecorder{}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "seal", Adapter: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	for range 2 {
		if err := ps.Broadcast(context.Background(), "t", "x"); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.frames) != 2 {
		t.Fatalf("%d frames", len(rec.frames))
	}
	var seqs []uint64
	for _, fr := range rec.frames {
		f, err := wire.Decode(fr, wire.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, f.Seq)
	}
	if seqs[0] == 0 || seqs[1] != seqs[0]+1 {
		t.Fatalf("numbers %v", seqs)
	}
	if rec.sealed {
		t.Fatal("Frame.Seal set for an adapter that is not a FrameSealer")
	}
}

// sealRecorder keeps the frames it is asked to send, and notes any Frame.Seal.
type sealRecorder struct {
	recorder
	sealed bool
}

func (r *sealRecorder) Broadcast(ctx context.Context, f pubsub.Frame) error {
	r.sealed = r.sealed || f.Seal != nil
	return r.recorder.Broadcast(ctx, f)
}
