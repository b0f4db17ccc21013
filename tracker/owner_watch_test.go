package tracker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/tracker"
)

// Owners of every kind end their presences when done: a subscriber of the tracker's PubSub (watched by
// the tracker's CloseWatcher), a subscriber of another PubSub (whose id must not meet a local one's:
// both PubSubs count subscribers from the same start), a context, and subscribers of a PubSub whose
// CloseWatcher slots are all taken (watched with AfterClose).
func TestEveryKindOfOwnerEndsItsPresences(t *testing.T) {
	ps, other := localPS(t, "a"), localPS(t, "b")
	// Take every watcher slot but one, which the tracker takes: a second tracker finds none.
	for range pubsub.MaxCloseWatchers - 1 {
		w, err := ps.NewCloseWatcher(func(*pubsub.Subscriber) {})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
	}
	tr := newTracker(t, ps, tracker.Config{Name: "owners"})
	full := newTracker(t, ps, tracker.Config{Name: "owners-full"})

	local, foreign := newOwner(t, ps), newOwner(t, other)
	for foreign.ID() < local.ID() { // the same id on both PubSubs
		foreign = newOwner(t, other)
	}
	if local.ID() != foreign.ID() {
		t.Fatalf("subscriber ids %d and %d: the test needs a local and a foreign subscriber with one id", local.ID(), foreign.ID())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, o := range []struct {
		owner tracker.Owner
		key   string
	}{{local, "local"}, {foreign, "foreign"}, {ctx, "ctx"}} {
		for _, topic := range []string{"room:1", "room:2"} {
			if _, err := tr.Track(o.owner, topic, o.key, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := full.Track(o.owner, topic, o.key, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	owner := func(tr *tracker.Tracker, key string) string {
		for _, p := range tr.List("room:1") {
			if p.Key == key {
				return p.Owner
			}
		}
		return ""
	}
	if owner(tr, "local") == owner(tr, "foreign") || owner(full, "local") == owner(full, "foreign") {
		t.Fatal("a local and a foreign subscriber share an owner id")
	}
	// Untrack by the foreign owner leaves the local subscriber's presence alone.
	if err := tr.Untrack(foreign, "room:2", "local"); err != nil {
		t.Fatal(err)
	}
	if got := keys(tr.List("room:2")); len(got) != 3 {
		t.Fatalf("room:2 after a foreign owner untracked a key it does not track: %v", got)
	}
	for _, step := range []struct {
		end  func()
		gone string
		want []string
	}{
		{func() { local.Close() }, "local", []string{"ctx", "foreign"}},
		{func() { foreign.Close() }, "foreign", []string{"ctx"}},
		{cancel, "ctx", nil},
	} {
		step.end()
		for _, tr := range []*tracker.Tracker{tr, full} {
			for _, topic := range []string{"room:1", "room:2"} {
				eventually(t, 2*time.Second, step.gone+"'s presences leaving "+topic, func() bool {
					return slices.Equal(keys(tr.List(topic)), step.want)
				})
			}
		}
	}
}
