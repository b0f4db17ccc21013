package pubsub_test

import (
	"strconv"
	"testing"

	"github.com/phxgo/pubsub"
)

// A subscriber's topics, whether kept inline, in its few slots or in its map, are each unsubscribed
// once and closed once, in any order of subscribing and unsubscribing.
func TestSubscriberTopicsAcrossForms(t *testing.T) {
	ps := newPS(t, pubsub.Config{})
	s := newSub(t, ps, pubsub.WithMailboxSize(1000))
	other := newSub(t, ps, pubsub.WithMailboxSize(1000))
	const n = 20
	topic := func(i int) string { return "t" + strconv.Itoa(i) }
	for i := range n {
		s.Subscribe(topic(i))
		s.Subscribe(topic(i)) // a duplicate: delivered twice
		other.Subscribe(topic(i))
	}
	for i := 0; i < n; i += 3 { // from the inline slot, the few slots and the map
		s.Unsubscribe(topic(i))
	}
	for i := range n {
		ps.LocalBroadcast(topic(i), i)
	}
	want := 0
	for i := range n {
		if i%3 != 0 {
			want += 2
		}
	}
	if got := s.Len(); got != want {
		t.Errorf("%d delivered, want %d", got, want)
	}
	for _, ok := s.TryReceive(); ok; _, ok = s.TryReceive() {
	}
	for i := 0; i < n; i += 3 { // subscribe again: the freed slots are reused
		s.Subscribe(topic(i))
	}
	s.Close()
	for i := range n {
		ps.LocalBroadcast(topic(i), i)
	}
	if got := other.Len(); got != 2*n {
		t.Errorf("the other subscriber got %d, want %d", got, 2*n)
	}
	if s.Dropped() != 0 {
		t.Errorf("closed subscriber dropped %d", s.Dropped())
	}
}
