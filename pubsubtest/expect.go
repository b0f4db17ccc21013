package pubsubtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

// subscribe returns a new subscriber of ps (made with opts) subscribed to topics.
func subscribe(t testing.TB, ps *pubsub.PubSub, topics []string, opts ...pubsub.MailboxOption) *pubsub.Subscriber {
	t.Helper()
	sub := newSub(t, ps, opts...)
	for _, topic := range topics {
		mustSubscribe(t, sub, topic)
	}
	return sub
}

// sub is subscribe without options, for the common case.
func sub(t testing.TB, ps *pubsub.PubSub, topics ...string) *pubsub.Subscriber {
	t.Helper()
	return subscribe(t, ps, topics)
}

// mustSubscribe subscribes s to topic with SubscribeContext, so that broadcasts from other nodes reach
// it from the moment it returns, also with an adapter that routes by topic (pubsub.TopicRouter).
func mustSubscribe(t testing.TB, s *pubsub.Subscriber, topic string, opts ...pubsub.SubscribeOption) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	if err := s.SubscribeContext(ctx, topic, opts...); err != nil {
		t.Fatalf("%v: SubscribeContext(%q): %v", s, topic, err)
	}
}

// subscribeTimeout bounds SubscribeContext in the checks: a routed subscription is confirmed in a
// round trip to the transport.
const subscribeTimeout = 10 * time.Second

// recv returns the next message of sub, failing t if none arrives within the delivery timeout or the
// mailbox is closed.
func (s *suite) recv(t testing.TB, sub *pubsub.Subscriber) pubsub.Message {
	t.Helper()
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case msg, ok := <-sub.C():
		if !ok {
			t.Fatalf("%v: mailbox closed while a message was expected", sub)
		}
		return msg
	case <-timer.C:
		t.Fatalf("%v: no message within %v", sub, s.timeout)
	}
	panic("unreachable")
}

// expect receives one message per element of want, in order, and checks that it was broadcast on
// topic with a payload deeply equal to the element.
func (s *suite) expect(t testing.TB, sub *pubsub.Subscriber, topic string, want ...any) {
	t.Helper()
	for i, w := range want {
		msg := s.recv(t, sub)
		if msg.Topic != topic {
			t.Errorf("%v: message %d has topic %q, want %q", sub, i, msg.Topic, topic)
		}
		if !reflect.DeepEqual(msg.Payload, w) {
			t.Errorf("%v: message %d has payload %#v, want %#v", sub, i, msg.Payload, w)
		}
	}
}

// none waits for the quiet period, then checks that no message is queued for any of subs: the check
// of "this is not delivered" when delivery may come from another node.
func (s *suite) none(t testing.TB, subs ...*pubsub.Subscriber) {
	t.Helper()
	time.Sleep(s.quiet)
	empty(t, subs...)
}

// empty checks, without waiting, that no message is queued for any of subs. Local delivery is complete
// when a broadcast returns, so this is enough for messages that only this node could deliver.
func empty(t testing.TB, subs ...*pubsub.Subscriber) {
	t.Helper()
	for _, sub := range subs {
		select {
		case msg, ok := <-sub.C():
			if ok {
				t.Errorf("%v: unexpected message on %q: %#v", sub, msg.Topic, msg.Payload)
			}
		default:
		}
	}
}

// queued checks, without waiting, that exactly n messages are queued for sub.
func queued(t testing.TB, sub *pubsub.Subscriber, n int) {
	t.Helper()
	if got := sub.Len(); got != n {
		t.Errorf("%v: %d messages queued when the call returned, want %d (local delivery must be done when a broadcast returns)", sub, got, n)
	}
}

// awaitClosed reads sub's mailbox until it is closed, failing t if a message is queued or the mailbox
// is still open after the delivery timeout.
func (s *suite) awaitClosed(t testing.TB, sub *pubsub.Subscriber) {
	t.Helper()
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	for {
		select {
		case msg, ok := <-sub.C():
			if !ok {
				return
			}
			t.Errorf("%v: unexpected message on %q after close: %#v", sub, msg.Topic, msg.Payload)
		case <-timer.C:
			t.Fatalf("%v: mailbox not closed within %v", sub, s.timeout)
		}
	}
}

// noErr fails t when err is not nil.
func noErr(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// isErr reports an error on t unless errors.Is(err, target).
func isErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s returned %v, want %v", what, err, target)
	}
}

// mustPanic calls f and checks that it panics with a *pubsub.BroadcastError for operation op and
// topic whose error is target.
func mustPanic(t testing.TB, what, op, topic string, target error, f func()) {
	t.Helper()
	v := catch(f)
	if v == nil {
		t.Errorf("%s did not panic, want a *pubsub.BroadcastError wrapping %v", what, target)
		return
	}
	err, ok := v.(error)
	var be *pubsub.BroadcastError
	if !ok || !errors.As(err, &be) {
		t.Errorf("%s panicked with %T (%v), want a *pubsub.BroadcastError", what, v, v)
		return
	}
	if !errors.Is(be, target) {
		t.Errorf("%s panicked with %v, want it to wrap %v", what, be, target)
	}
	if be.Op != op || be.Topic != topic {
		t.Errorf("%s panicked with Op %q, Topic %q; want %q, %q", what, be.Op, be.Topic, op, topic)
	}
}

// mustNotPanic calls f and reports a panic as an error on t.
func mustNotPanic(t testing.TB, what string, f func()) {
	t.Helper()
	if v := catch(f); v != nil {
		t.Errorf("%s panicked: %v", what, v)
	}
}

func catch(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// within runs f on its own goroutine and fails t if f has not returned after d: the check that
// something does not block or deadlock. f must not use t (it may outlive the test): it reports
// through a failures. A goroutine that never returns is left behind (and reported by leak checkers):
// the test has failed anyway.
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	if !finishes(d, f) {
		t.Fatalf("%s did not finish within %v (blocked or deadlocked)", what, d)
	}
}

// finishes runs f and reports whether it returned within d. A call that does not is left behind (the
// caller's check fails; the test's context ends when it does, which may free the call).
func finishes(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// eventually polls cond until it holds, failing t after d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %v", what, d)
		}
		time.Sleep(time.Millisecond)
	}
}

// failures collects the problems found by goroutines a check starts, to report them on the test's
// goroutine: t must not be used once the test has ended, and a stuck goroutine may outlive it.
type failures struct {
	mu   sync.Mutex
	errs []string
}

// add records a problem.
func (f *failures) add(format string, args ...any) {
	f.mu.Lock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// check records err, unless it is nil, as a failure of what.
func (f *failures) check(what string, err error) {
	if err != nil {
		f.add("%s: %v", what, err)
	}
}

// report reports every problem recorded so far as an error on t (at most 20 of them).
func (f *failures) report(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, e := range f.errs {
		if i == 20 {
			t.Errorf("… and %d more", len(f.errs)-i)
			break
		}
		t.Error(e)
	}
	f.errs = nil
}

// newSub returns a new subscriber of ps, or fails t.
func newSub(t testing.TB, ps *pubsub.PubSub, opts ...pubsub.MailboxOption) *pubsub.Subscriber {
	t.Helper()
	s, err := ps.NewSubscriber(opts...)
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	return s
}
