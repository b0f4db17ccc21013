package pubsubtest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/phxgo/pubsub"
)

// Concurrency: broadcasts, subscription changes and Close racing each other. Run with -race.
var concurrencyChecks = []check{
	{"ChurnWhileBroadcasting", 1, testChurnWhileBroadcasting},
	{"CloseRacingBroadcasts", 1, testCloseRacingBroadcasts},
}

func testChurnWhileBroadcasting(t *testing.T, s *suite) {
	const (
		topics         = 4
		broadcasters   = 8
		perBroadcaster = 200
		churners       = 8
		rounds         = 100
	)
	c := s.start(t, s.clusterSize())
	n := len(c.nodes)
	watched := func(i int) string { return fmt.Sprintf("watched-%d", i%topics) }
	side := func(i int) string { return fmt.Sprintf("side-%d", i%topics) }

	// Watchers hold a subscription to each watched topic on each node throughout, and read only at the
	// end: their mailboxes hold every message.
	watchers := make([][]*pubsub.Subscriber, n)
	for i, ps := range c.nodes {
		for k := range topics {
			watchers[i] = append(watchers[i], subscribe(t, ps, []string{watched(k)}, pubsub.WithMailboxSize(broadcasters*perBroadcaster)))
		}
	}

	ctx := t.Context()
	var fails failures
	var wg sync.WaitGroup
	for b := range broadcasters {
		ps := c.nodes[b%n]
		wg.Go(func() {
			for k := range perBroadcaster {
				if err := ps.Broadcast(ctx, watched(b), seq{Src: b, N: k}); err != nil {
					fails.add("broadcaster %d: Broadcast: %v", b, err)
					return
				}
			}
		})
	}
	// Churners come and go with small mailboxes, which overflow: they subscribe (twice to one topic),
	// read a little, unsubscribe, broadcast from themselves on side topics, and close.
	for w := range churners {
		ps := c.nodes[w%n]
		wg.Go(func() {
			for r := range rounds {
				// Not newSub: a goroutine must not fail t, which may have ended (the check gives up on
				// these goroutines after its time limit and reports that instead).
				sub, err := ps.NewSubscriber(pubsub.WithMailboxSize(4))
				if err != nil {
					fails.add("churner %d: NewSubscriber: %v", w, err)
					return
				}
				fails.check("Subscribe", sub.Subscribe(watched(r)))
				fails.check("Subscribe", sub.Subscribe(side(r+w)))
				fails.check("Subscribe", sub.Subscribe(watched(r)))
				for i := 0; i < 2 && len(sub.C()) > 0; i++ {
					<-sub.C()
				}
				if r%2 == 0 {
					fails.check("Unsubscribe", sub.Unsubscribe(watched(r)))
				}
				if r%3 == 0 {
					fails.check("BroadcastFrom", ps.BroadcastFrom(ctx, sub, side(r), "churn"))
					fails.check("LocalBroadcast", ps.LocalBroadcast(side(r+1), "churn"))
				}
				fails.check("Close", sub.Close())
			}
		})
	}
	within(t, 4*s.timeout, "concurrent broadcasts and subscription churn", wg.Wait)
	fails.report(t)

	for i := range c.nodes {
		for k, w := range watchers[i] {
			want := map[int]int{}
			for b := k; b < broadcasters; b += topics {
				want[b] = perBroadcaster
			}
			s.expectSeqs(t, w, watched(k), want)
			if d := w.Dropped(); d != 0 {
				t.Errorf("node %d: watcher of %q dropped %d messages with room for all", i, watched(k), d)
			}
		}
		s.none(t, watchers[i]...)
	}
}

func testCloseRacingBroadcasts(t *testing.T, s *suite) {
	c := s.start(t, s.clusterSize())
	n := len(c.nodes)
	victim := c.nodes[0]
	ctx := t.Context()
	var fails failures
	var wg sync.WaitGroup
	var sent atomic.Int64
	stop := make(chan struct{})
	watcher := sub(t, victim, "race")

	// Broadcasters on every node, with every broadcast function. Those on the victim run until their
	// calls return ErrClosed; the others must keep succeeding while it closes.
	for b := range 8 {
		ps := c.nodes[b%n]
		from := sub(t, ps, "race")
		other := c.nodes[(b+1)%n].NodeName()
		onVictim := ps == victim
		wg.Go(func() {
			for i := 0; ; i++ {
				var err error
				switch i % 5 {
				case 0:
					err = ps.Broadcast(ctx, "race", i)
				case 1:
					err = ps.BroadcastFrom(ctx, from, "race", i)
				case 2:
					err = ps.LocalBroadcast("race", i)
				case 3:
					err = ps.LocalBroadcastFrom(from, "race", i)
				case 4:
					err = ps.DirectBroadcast(ctx, other, "race", i)
				}
				sent.Add(1)
				switch {
				case onVictim && errors.Is(err, pubsub.ErrClosed):
					return
				case err != nil:
					fails.add("broadcaster %d (victim %v): call %d returned %v, want nil or (on the closed node) ErrClosed", b, onVictim, i, err)
					return
				case !onVictim:
					select {
					case <-stop:
						return
					default:
					}
				}
			}
		})
	}
	// Subscribers come and go on the victim until it is closed.
	for range 4 {
		wg.Go(func() {
			for {
				sub, err := victim.NewSubscriber(pubsub.WithMailboxSize(4))
				if errors.Is(err, pubsub.ErrClosed) {
					return // NewSubscriber after the PubSub's Close
				}
				fails.check("NewSubscriber while the PubSub closes", err)
				if err != nil {
					return
				}
				err = sub.Subscribe("race")
				if errors.Is(err, pubsub.ErrClosed) {
					return
				}
				fails.check("Subscribe while the PubSub closes", err)
				if err := sub.Unsubscribe("race"); err != nil && !errors.Is(err, pubsub.ErrClosed) {
					fails.add("Unsubscribe while the PubSub closes returned %v, want nil or ErrClosed", err)
				}
				fails.check("Close of a subscriber while the PubSub closes", sub.Close())
			}
		})
	}

	eventually(t, s.timeout, "broadcasts under way", func() bool { return sent.Load() >= 200 })
	within(t, s.timeout, "Close while broadcasting", func() { fails.check("Close", victim.Close()) })
	close(stop)
	within(t, s.timeout, "the broadcasters and subscribers, once the PubSub is closed", wg.Wait)
	fails.report(t)

	// The subscriber that was open when Close began is closed.
	eventually(t, s.timeout, "the watcher's mailbox closed", func() bool {
		for {
			select {
			case _, ok := <-watcher.C():
				if !ok {
					return true
				}
			default:
				return false
			}
		}
	})
}
