package pubsub_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/phxgo/pubsub"
)

// closeLog records a CloseWatcher's calls.
type closeLog struct {
	mu   sync.Mutex
	seen []*pubsub.Subscriber
}

func (l *closeLog) f(s *pubsub.Subscriber) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, s)
}

func (l *closeLog) calls() []*pubsub.Subscriber {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*pubsub.Subscriber(nil), l.seen...)
}

func newWatcher(t *testing.T, ps *pubsub.PubSub, l *closeLog) *pubsub.CloseWatcher {
	t.Helper()
	w, err := ps.NewCloseWatcher(l.f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// A watched subscriber's close calls the watcher once, on the closing goroutine, after the subscriber is
// closed; an unwatched one is not reported; Unwatch reports whether it came first.
func TestCloseWatcherCallsOncePerClose(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	var l closeLog
	w := newWatcher(t, ps, &l)
	a, b, c := newSub(t, ps), newSub(t, ps), newSub(t, ps)
	for _, s := range []*pubsub.Subscriber{a, a, b, c} { // a twice: watched once
		if err := w.Watch(s); err != nil {
			t.Fatal(err)
		}
	}
	if !w.Unwatch(b) || w.Unwatch(b) {
		t.Fatal("Unwatch of a watched subscriber: want true once, then false")
	}
	var errAtCall error
	w2, err := ps.NewCloseWatcher(func(s *pubsub.Subscriber) { errAtCall = s.Err() })
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if err := w2.Watch(a); err != nil {
		t.Fatal(err)
	}
	a.Close()
	a.Close()
	b.Close()
	if got := l.calls(); len(got) != 1 || got[0] != a {
		t.Fatalf("calls after closing a and b: %v, want [a]", got)
	}
	if !errors.Is(errAtCall, pubsub.ErrSubscriberClosed) {
		t.Fatalf("the second watcher saw Err %v, want ErrSubscriberClosed: called before the close was done", errAtCall)
	}
	if w.Unwatch(a) {
		t.Fatal("Unwatch after the close reported true")
	}
	if err := w.Watch(a); !errors.Is(err, pubsub.ErrSubscriberClosed) {
		t.Fatalf("Watch of a closed subscriber: %v, want ErrSubscriberClosed", err)
	}
	ps.Close() // closes c, as a subscriber's Close would
	if got := l.calls(); len(got) != 2 || got[1] != c {
		t.Fatalf("calls after the PubSub closed: %v, want [a c]", got)
	}
}

// Watch rejects what it cannot watch; a closed watcher watches nothing more and is not called.
func TestCloseWatcherErrorsAndClose(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	other := newPS(t, pubsub.Config{})
	var l closeLog
	w := newWatcher(t, ps, &l)
	if err := w.Watch(nil); !errors.Is(err, pubsub.ErrNilSubscriber) {
		t.Fatalf("Watch(nil): %v", err)
	}
	if err := w.Watch(newSub(t, other)); !errors.Is(err, pubsub.ErrForeignSubscriber) {
		t.Fatalf("Watch of another PubSub's subscriber: %v", err)
	}
	if _, err := ps.NewCloseWatcher(nil); err == nil {
		t.Fatal("NewCloseWatcher(nil) succeeded")
	}
	s, late := newSub(t, ps), newSub(t, ps)
	if err := w.Watch(s); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w.Close()
	if err := w.Watch(late); !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Watch after Close: %v, want ErrClosed", err)
	}
	s.Close()
	if got := l.calls(); len(got) != 0 {
		t.Fatalf("a closed watcher was called: %v", got)
	}
	other.Close()
	if _, err := other.NewCloseWatcher(l.f); !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("NewCloseWatcher on a closed PubSub: %v, want ErrClosed", err)
	}
}

// A PubSub has MaxCloseWatchers slots; a closed watcher frees its slot for a new one, which is not
// called for a subscriber its predecessor unwatched.
func TestCloseWatcherSlots(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	var l closeLog
	ws := make([]*pubsub.CloseWatcher, pubsub.MaxCloseWatchers)
	for i := range ws {
		ws[i] = newWatcher(t, ps, &l)
	}
	if _, err := ps.NewCloseWatcher(l.f); !errors.Is(err, pubsub.ErrTooManyCloseWatchers) {
		t.Fatalf("watcher %d: %v, want ErrTooManyCloseWatchers", pubsub.MaxCloseWatchers+1, err)
	}
	s := newSub(t, ps)
	for _, w := range ws {
		if err := w.Watch(s); err != nil {
			t.Fatal(err)
		}
	}
	ws[2].Unwatch(s)
	ws[2].Close()
	var l2 closeLog
	newWatcher(t, ps, &l2) // takes the freed slot
	s.Close()
	if got := len(l.calls()); got != pubsub.MaxCloseWatchers-1 {
		t.Fatalf("%d calls, want one per watcher still watching (%d)", got, pubsub.MaxCloseWatchers-1)
	}
	if got := l2.calls(); len(got) != 0 {
		t.Fatalf("the watcher in a freed slot was called: %v", got)
	}
}

// Watch and Unwatch allocate nothing: that is the point of a CloseWatcher.
func TestCloseWatcherAllocatesNothing(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	var l closeLog
	w := newWatcher(t, ps, &l)
	s := newSub(t, ps)
	if n := testing.AllocsPerRun(100, func() {
		if err := w.Watch(s); err != nil {
			t.Fatal(err)
		}
		if !w.Unwatch(s) {
			t.Fatal("Unwatch: false")
		}
	}); n != 0 {
		t.Fatalf("Watch and Unwatch: %.1f allocations, want 0", n)
	}
}

// Subscribers closing concurrently with Watch and Unwatch: each watched one that closes while watched
// is reported exactly once (run with -race).
func TestCloseWatcherConcurrent(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	var mu sync.Mutex
	calls := make(map[*pubsub.Subscriber]int)
	w, err := ps.NewCloseWatcher(func(s *pubsub.Subscriber) {
		mu.Lock()
		calls[s]++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n = 200
	subs := make([]*pubsub.Subscriber, n)
	unwatched := make([]bool, n)
	for i := range subs {
		subs[i] = newSub(t, ps)
		if err := w.Watch(subs[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() { s.Close() })
		if i%2 == 0 {
			wg.Go(func() { unwatched[i] = w.Unwatch(s) })
		}
	}
	wg.Wait()
	for i, s := range subs {
		want := 1
		if unwatched[i] {
			want = 0
		}
		if calls[s] != want {
			t.Fatalf("subscriber %d: %d calls, want %d (unwatched before its close: %v)", i, calls[s], want, unwatched[i])
		}
	}
}
