package pubsub_test

import (
	"context"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

func newPS(t testing.TB, cfg pubsub.Config) *pubsub.PubSub {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	ps, err := pubsub.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

func subscribe(t testing.TB, ps *pubsub.PubSub, topics ...string) *pubsub.Subscriber {
	t.Helper()
	s := newSub(t, ps)
	for _, topic := range topics {
		if err := s.Subscribe(topic); err != nil {
			t.Fatalf("Subscribe(%q): %v", topic, err)
		}
	}
	return s
}

// receive waits up to a second for one message.
func receive(t testing.TB, s *pubsub.Subscriber) pubsub.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	msg, err := s.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return msg
}

// assertEmpty checks that nothing is queued for s. Local delivery is synchronous, so no waiting is needed.
func assertEmpty(t testing.TB, s *pubsub.Subscriber) {
	t.Helper()
	// Len may count the message the mailbox's pump just handed over (and the test read) until the pump
	// lets go of it, an instant later (Subscriber.Len).
	deadline := time.Now().Add(time.Second)
	for s.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := s.Len(); n != 0 {
		t.Fatalf("%d messages queued, want none", n)
	}
	select {
	case msg, ok := <-s.C():
		if ok {
			t.Fatalf("unexpected message %+v", msg)
		}
	default:
	}
}

// newSub returns a new subscriber of ps, or fails the test.
func newSub(t testing.TB, ps *pubsub.PubSub, opts ...pubsub.MailboxOption) *pubsub.Subscriber {
	t.Helper()
	s, err := ps.NewSubscriber(opts...)
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	return s
}
