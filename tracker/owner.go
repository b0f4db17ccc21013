package tracker

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/phxgo/pubsub"
)

// Owner owns presences, as an Erlang process owns what it tracks: when the owner is done, every
// presence it tracks ends, on every node. A *pubsub.Subscriber is an Owner (it is done when closed); so
// is anything comparable with a Done channel, such as a context.Context or a connection type of yours.
//
// Owners are compared with ==, so use pointers (or other comparable values) that stay the same for the
// owner's life.
type Owner interface {
	Done() <-chan struct{}
}

// afterCloser is implemented by owners that can run a function when they are done without a goroutine
// waiting on Done (pubsub.Subscriber.AfterClose). The tracker prefers it to a goroutine, and a
// pubsub.CloseWatcher to it.
type afterCloser interface {
	AfterClose(f func()) (stop func() bool)
}

// owners maps each Owner that tracks something to the id the CRDT knows it by, and watches it.
//
// The Subscribers of the tracker's PubSub, the usual owners (one per connection), cost nothing here: their
// id is their Subscriber.ID in base 36 (a counter per node, as Phoenix's pids are), and one
// pubsub.CloseWatcher watches them all, with a bit in each subscriber. Such a watch is never undone
// (it costs nothing), so a subscriber that once tracked something has UntrackAll run when it closes,
// which finds nothing if it tracks nothing anymore. Other owners (contexts, foreign subscribers, your own
// types) are counted in byKey, under ids of their own (with the top bit of the counter set, so that they
// never meet a subscriber's), and watched as cheaply as they allow while they track something.
type owners struct {
	mu      sync.Mutex
	byKey   map[Owner]ownerEntry
	nextID  uint64
	onDone  func(Owner) // the tracker's UntrackAll
	watcher *pubsub.CloseWatcher
	closing atomic.Bool
	psDone  <-chan struct{} // the PubSub's Done: once closed, the tracker is too
	wg      sync.WaitGroup
	quit    chan struct{}
}

// ownerEntry is what the tracker holds for an owner that is not a subscriber of its PubSub.
type ownerEntry struct {
	id    string
	count int         // presences the owner tracks, over every shard
	stop  func() bool // stops the watch
}

// otherOwnerIDs is set in the counter behind the ids of owners that are not subscribers of the PubSub.
const otherOwnerIDs = 1 << 63

// newOwners returns the owners of a tracker on ps. Without a free CloseWatcher slot on ps (see
// pubsub.MaxCloseWatchers), its Subscribers are owners like any other.
func newOwners(ps *pubsub.PubSub, onDone func(Owner)) *owners {
	os := &owners{byKey: make(map[Owner]ownerEntry), onDone: onDone, quit: make(chan struct{}), psDone: ps.Done()}
	if w, err := ps.NewCloseWatcher(os.closed); err == nil {
		os.watcher = w
	}
	return os
}

// closed is the CloseWatcher's function: a subscriber closed, on the goroutine that closed it. Its
// presences end on a goroutine of their own, as with AfterClose: a shard's lock may be held for a while
// by a merge, and a subscriber's Close must not wait for that. Nothing is done once the tracker or its
// PubSub is closing (the PubSub's Close closes every subscriber).
func (os *owners) closed(s *pubsub.Subscriber) {
	select {
	case <-os.psDone:
		return
	default:
	}
	if !os.closing.Load() {
		go os.onDone(s)
	}
}

// subscriberID returns the id of o if it is a Subscriber of the tracker's PubSub, and makes sure it is
// watched (unless it is closed already: then Track sees it, and untracks what it tracked).
func (os *owners) subscriberID(o Owner) (string, bool) {
	s, ok := o.(*pubsub.Subscriber)
	if !ok || os.watcher == nil || errors.Is(os.watcher.Watch(s), pubsub.ErrForeignSubscriber) {
		return "", false
	}
	return strconv.FormatUint(s.ID(), 36), true
}

// acquire returns o's id, registering and watching o on first use, and counts one more presence.
func (os *owners) acquire(o Owner) string {
	if id, ok := os.subscriberID(o); ok {
		return id
	}
	os.mu.Lock()
	defer os.mu.Unlock()
	e, ok := os.byKey[o]
	if !ok {
		os.nextID++
		e.id = strconv.FormatUint(otherOwnerIDs|os.nextID, 36)
		e.stop = os.watch(o)
	}
	e.count++
	os.byKey[o] = e
	return e.id
}

// id returns o's id, or "" if it tracks nothing (a subscriber of the PubSub always has one).
func (os *owners) id(o Owner) string {
	if id, ok := os.subscriberID(o); ok {
		return id
	}
	os.mu.Lock()
	defer os.mu.Unlock()
	return os.byKey[o].id
}

// release counts n fewer presences for o, and forgets (and stops watching) o when it has none left.
// Subscribers of the PubSub are not counted: nothing to do.
func (os *owners) release(o Owner, n int) {
	if n == 0 {
		return
	}
	os.mu.Lock()
	defer os.mu.Unlock()
	e, ok := os.byKey[o]
	if !ok {
		return
	}
	if e.count -= n; e.count > 0 {
		os.byKey[o] = e
		return
	}
	delete(os.byKey, o)
	e.stop()
}

// watch arranges for onDone(o) once o is done, as cheaply as o allows.
func (os *owners) watch(o Owner) (stop func() bool) {
	fire := func() { os.onDone(o) }
	if ac, ok := o.(afterCloser); ok {
		return ac.AfterClose(fire)
	}
	if ctx, ok := o.(context.Context); ok {
		return context.AfterFunc(ctx, fire)
	}
	// Any other owner: one goroutine waiting on its Done channel.
	cancel := make(chan struct{})
	var once sync.Once
	os.wg.Add(1)
	go func() {
		defer os.wg.Done()
		select {
		case <-o.Done():
			fire()
		case <-cancel:
		case <-os.quit:
		}
	}()
	return func() bool {
		stopped := false
		once.Do(func() { close(cancel); stopped = true })
		return stopped
	}
}

// close stops every watch and waits for the watching goroutines.
func (os *owners) close() {
	os.closing.Store(true)
	if os.watcher != nil {
		os.watcher.Close()
	}
	os.mu.Lock()
	for o, e := range os.byKey {
		e.stop()
		delete(os.byKey, o)
	}
	os.mu.Unlock()
	close(os.quit)
	os.wg.Wait()
}
