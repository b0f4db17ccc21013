package pubsub

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrTooManyCloseWatchers is returned by NewCloseWatcher when its PubSub has MaxCloseWatchers already.
var ErrTooManyCloseWatchers = errors.New("pubsub: too many close watchers")

// MaxCloseWatchers is how many CloseWatchers a PubSub can have at a time.
const MaxCloseWatchers = 6

// A CloseWatcher learns that the subscribers it watches have closed, like AfterClose, but without any
// memory per subscriber: a watched subscriber carries one bit for the watcher, in a byte it has anyway.
// It is for code that watches very many subscribers and keeps its own record of each (the tracker
// watches the owners of its presences with it: a million owners cost nothing here); AfterClose, which
// keeps a function per subscriber, is simpler for a few. Make one with PubSub.NewCloseWatcher; its
// methods are safe for concurrent use.
type CloseWatcher struct {
	ps     *PubSub
	slot   int
	f      func(*Subscriber)
	closed atomic.Bool
}

// closeWatcherSlots are a PubSub's CloseWatchers. A subscriber's close reads them only when the
// subscriber has watcher bits.
type closeWatcherSlots struct {
	mu    sync.RWMutex
	slots [MaxCloseWatchers]*CloseWatcher
}

// NewCloseWatcher returns a watcher that calls f(s) once for each subscriber s it watches that closes
// (by its Close, as a slow consumer, or by the PubSub's Close). f runs on the goroutine that closes s,
// after s's subscriptions are removed and its mailbox closed, outside every lock of the package; it must
// not block (hand long work to a goroutine). f may, rarely, be called for a subscriber the watcher does
// not watch (one whose Unwatch lost the race with its close, which Unwatch then reports; or one watched
// by a closed watcher whose slot f's watcher took since), so f should check its own records. A PubSub
// has at most MaxCloseWatchers watchers at a time: past that, NewCloseWatcher returns
// ErrTooManyCloseWatchers (use AfterClose then). It also returns ErrClosed.
func (ps *PubSub) NewCloseWatcher(f func(*Subscriber)) (*CloseWatcher, error) {
	if f == nil {
		return nil, errors.New("pubsub: nil close watcher function")
	}
	if ps.closed.Load() {
		return nil, ErrClosed
	}
	ws := &ps.watchers
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for i, w := range ws.slots {
		if w == nil {
			w = &CloseWatcher{ps: ps, slot: i, f: f}
			ws.slots[i] = w
			return w, nil
		}
	}
	return nil, fmt.Errorf("%w (%d on %s)", ErrTooManyCloseWatchers, MaxCloseWatchers, ps.name)
}

// bit returns w's bit in a subscriber's closeReason.
func (w *CloseWatcher) bit() closeReason { return 1 << (watchShift + w.slot) }

// Watch makes w call its function once s closes. Watching a subscriber twice is watching it once. It
// costs no allocation. It returns ErrNilSubscriber, ErrForeignSubscriber for a subscriber of another
// PubSub, ErrClosed after w's Close, and s's Err if s is closed already (the function is then not
// called: the caller knows).
func (w *CloseWatcher) Watch(s *Subscriber) error {
	switch {
	case s == nil:
		return ErrNilSubscriber
	case s.ps != w.ps:
		return ErrForeignSubscriber
	}
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if err := s.reason.err(); err != nil {
		return err
	}
	if w.closed.Load() {
		return ErrClosed
	}
	s.reason |= w.bit()
	return nil
}

// Unwatch stops watching s, and reports whether it did so before s closed: true means w's function will
// not be called for s; false, that s was not watched or has closed (and the call is made or under way).
func (w *CloseWatcher) Unwatch(s *Subscriber) bool {
	if s == nil || s.ps != w.ps {
		return false
	}
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if !s.reason.isOpen() || s.reason&w.bit() == 0 {
		return false
	}
	s.reason &^= w.bit()
	return true
}

// Close stops w: its function is not called for subscribers that close afterwards (a call under way
// may still finish), and its slot is free for a new watcher. The subscribers it watched keep a stale
// bit, which costs nothing. Close is idempotent.
func (w *CloseWatcher) Close() {
	if w.closed.Swap(true) {
		return
	}
	ws := &w.ps.watchers
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.slots[w.slot] == w {
		ws.slots[w.slot] = nil
	}
}

// notifyCloseWatchers calls the function of each watcher whose bit is in bits, for s, which has just
// closed.
func notifyCloseWatchers(s *Subscriber, bits uint8) {
	var fs [MaxCloseWatchers]func(*Subscriber)
	ws := &s.ps.watchers
	ws.mu.RLock()
	for i, w := range ws.slots {
		if w != nil && bits&(1<<i) != 0 {
			fs[i] = w.f
		}
	}
	ws.mu.RUnlock()
	for _, f := range fs {
		if f != nil {
			f(s)
		}
	}
}
