package tracker

import (
	"context"
	"strconv"
	"sync"
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
// waiting on Done (pubsub.Subscriber.AfterClose). The tracker prefers it: a million owners then cost no
// goroutines.
type afterCloser interface {
	AfterClose(f func()) (stop func() bool)
}

// owners maps each Owner that tracks something to the id the CRDT knows it by, and watches it.
type owners struct {
	mu     sync.Mutex
	byKey  map[Owner]*ownerEntry
	nextID uint64
	onDone func(Owner) // the tracker's UntrackAll
	wg     sync.WaitGroup
	quit   chan struct{}
}

type ownerEntry struct {
	id    string
	count int         // presences the owner tracks, over every shard
	stop  func() bool // stops the watch
}

func newOwners(onDone func(Owner)) *owners {
	return &owners{byKey: make(map[Owner]*ownerEntry), onDone: onDone, quit: make(chan struct{})}
}

// acquire returns o's id, registering and watching o on first use, and counts one more presence.
func (os *owners) acquire(o Owner) string {
	os.mu.Lock()
	defer os.mu.Unlock()
	e := os.byKey[o]
	if e == nil {
		os.nextID++
		e = &ownerEntry{id: strconv.FormatUint(os.nextID, 36)}
		os.byKey[o] = e
		e.stop = os.watch(o)
	}
	e.count++
	return e.id
}

// id returns o's id, or "" if it tracks nothing.
func (os *owners) id(o Owner) string {
	os.mu.Lock()
	defer os.mu.Unlock()
	if e := os.byKey[o]; e != nil {
		return e.id
	}
	return ""
}

// release counts n fewer presences for o, and forgets (and stops watching) o when it has none left.
func (os *owners) release(o Owner, n int) {
	if n == 0 {
		return
	}
	os.mu.Lock()
	defer os.mu.Unlock()
	e := os.byKey[o]
	if e == nil {
		return
	}
	if e.count -= n; e.count <= 0 {
		delete(os.byKey, o)
		e.stop()
	}
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
	os.mu.Lock()
	for o, e := range os.byKey {
		e.stop()
		delete(os.byKey, o)
	}
	os.mu.Unlock()
	close(os.quit)
	os.wg.Wait()
}
