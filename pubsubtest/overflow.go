package pubsubtest

import (
	"errors"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

// Overflow: a subscriber that does not read never blocks a broadcaster; its full mailbox drops, counts
// every drop, and the PubSub reports one slow-consumer event per episode.
var overflowChecks = []check{
	{"DropNewest", 1, testOverflowDropNewest},
	{"DropOldestKeepsNewest", 1, testOverflowDropOldest},
	{"CloseOnOverflowClosesSubscriber", 1, testOverflowClose},
	{"OneReportPerEpisode", 1, testOverflowEpisodes},
	{"RemoteSlowConsumer", 2, testOverflowRemote},
}

// Mailbox size of the slow subscribers, and how many messages a flood sends.
const (
	slowMailbox = 8
	floodCount  = 50
)

// recoveryWait is how long a drained subscriber keeps up before the suite expects its slow-consumer
// episode to be over. A PubSub may notice the end of an episode late (package pubsub checks for
// recovery every 50 ms), but not later than this.
const recoveryWait = 250 * time.Millisecond

// flood broadcasts seq{Src: 0, N: from…from+count-1} on topic from ps, and fails t unless every
// Broadcast returns nil within the delivery timeout: a slow subscriber must not block a broadcaster.
func (s *suite) flood(t *testing.T, ps *pubsub.PubSub, topic string, from, count int) {
	t.Helper()
	var fails failures
	ctx := t.Context()
	within(t, s.timeout, "broadcasting to a subscriber that does not read", func() {
		for n := from; n < from+count; n++ {
			if err := ps.Broadcast(ctx, topic, seq{N: n}); err != nil {
				fails.add("Broadcast: %v", err)
				return
			}
		}
	})
	fails.report(t)
}

// expectRange receives seq{N: from…to-1}, in order, then checks that nothing else is queued.
func (s *suite) expectRange(t *testing.T, sub *pubsub.Subscriber, topic string, from, to int) {
	t.Helper()
	want := make([]any, 0, to-from)
	for n := from; n < to; n++ {
		want = append(want, seq{N: n})
	}
	s.expect(t, sub, topic, want...)
	empty(t, sub)
}

// accounted waits until every one of total messages is either queued for sub or counted in its
// Dropped, and checks that no more are.
func (s *suite) accounted(t *testing.T, sub *pubsub.Subscriber, total int) {
	t.Helper()
	count := func() int { return sub.Len() + int(sub.Dropped()) }
	eventually(t, s.timeout, "queued + Dropped() reaches the number broadcast", func() bool { return count() >= total })
	if got := count(); got != total {
		t.Errorf("%v: %d queued + %d dropped = %d, want %d broadcast", sub, sub.Len(), sub.Dropped(), got, total)
	}
}

// awaitReports waits for the slow-consumer reports about sub to number want, then for the quiet
// period, and checks that they still do, and that each describes sub.
func (s *suite) awaitReports(t *testing.T, c *cluster, sub *pubsub.Subscriber, want int) {
	t.Helper()
	eventually(t, s.timeout, "OnSlowConsumer called", func() bool { return len(c.slow.of(sub.ID())) >= want })
	time.Sleep(s.quiet) // a duplicate report would come now
	reports := c.slow.of(sub.ID())
	if len(reports) != want {
		t.Errorf("%v: %d slow-consumer reports, want %d (one per episode): %+v", sub, len(reports), want, reports)
	}
	for _, r := range reports {
		if r.MailboxSize != sub.Cap() || r.Dropped == 0 || r.Dropped > sub.Dropped() {
			t.Errorf("%v: slow-consumer report %+v, want MailboxSize %d and Dropped in 1…%d", sub, r, sub.Cap(), sub.Dropped())
		}
	}
}

func testOverflowDropNewest(t *testing.T, s *suite) {
	c := s.start(t, 1)
	ps := c.nodes[0]
	slow := subscribe(t, ps, []string{"flood"}, pubsub.WithMailboxSize(slowMailbox))
	fast := subscribe(t, ps, []string{"flood"}, pubsub.WithMailboxSize(2*floodCount))
	s.flood(t, ps, "flood", 0, floodCount)
	s.accounted(t, slow, floodCount)
	if d := slow.Dropped(); d != floodCount-slowMailbox {
		t.Errorf("%v: Dropped() = %d, want %d", slow, d, floodCount-slowMailbox)
	}
	s.awaitReports(t, c, slow, 1)
	s.expectRange(t, slow, "flood", 0, slowMailbox) // DropNewest keeps the oldest
	s.expectRange(t, fast, "flood", 0, floodCount)  // the other subscriber lost nothing
	if d := fast.Dropped(); d != 0 {
		t.Errorf("%v: Dropped() = %d with room for every message", fast, d)
	}
	s.none(t, slow, fast)
}

// CloseOnOverflow: the subscriber whose mailbox overflows is closed; its reader gets what was queued,
// then ErrSlowConsumer; nobody else loses anything.
func testOverflowClose(t *testing.T, s *suite) {
	c := s.start(t, 1)
	ps := c.nodes[0]
	slow := subscribe(t, ps, []string{"flood"}, pubsub.WithMailboxSize(slowMailbox), pubsub.WithOverflow(pubsub.CloseOnOverflow))
	fast := subscribe(t, ps, []string{"flood"}, pubsub.WithMailboxSize(2*floodCount))
	s.flood(t, ps, "flood", 0, floodCount)
	s.awaitReports(t, c, slow, 1)
	for n := range slowMailbox {
		msg, err := slow.Receive(t.Context())
		if err != nil || msg.Payload != (seq{N: n}) {
			t.Fatalf("%v: queued message %d: %+v, %v", slow, n, msg, err)
		}
	}
	within(t, s.timeout, "the closed subscriber's Receive", func() {
		if _, err := slow.Receive(t.Context()); !errors.Is(err, pubsub.ErrSlowConsumer) {
			t.Errorf("%v: Receive after the queued messages: %v, want ErrSlowConsumer", slow, err)
		}
	})
	if d := slow.Dropped(); d == 0 || d > floodCount-slowMailbox {
		t.Errorf("%v: Dropped() = %d, want 1..%d", slow, d, floodCount-slowMailbox)
	}
	s.expectRange(t, fast, "flood", 0, floodCount)
}

func testOverflowDropOldest(t *testing.T, s *suite) {
	c := s.start(t, 1)
	ps := c.nodes[0]
	slow := subscribe(t, ps, []string{"flood"}, pubsub.WithMailboxSize(slowMailbox), pubsub.WithOverflow(pubsub.DropOldest))
	s.flood(t, ps, "flood", 0, floodCount)
	s.accounted(t, slow, floodCount)
	if d := slow.Dropped(); d != floodCount-slowMailbox {
		t.Errorf("%v: Dropped() = %d, want %d", slow, d, floodCount-slowMailbox)
	}
	s.awaitReports(t, c, slow, 1)
	s.expectRange(t, slow, "flood", floodCount-slowMailbox, floodCount) // the newest
}

func testOverflowEpisodes(t *testing.T, s *suite) {
	c := s.start(t, 1)
	ps := c.nodes[0]
	slow := subscribe(t, ps, []string{"flood"}, pubsub.WithMailboxSize(slowMailbox))

	// First episode.
	s.flood(t, ps, "flood", 0, floodCount)
	s.awaitReports(t, c, slow, 1)
	s.expectRange(t, slow, "flood", 0, slowMailbox)

	// Drained, and keeping up for a while: the episode is over. Messages that fit start no other.
	time.Sleep(recoveryWait)
	s.flood(t, ps, "flood", floodCount, slowMailbox)
	s.awaitReports(t, c, slow, 1)
	s.expectRange(t, slow, "flood", floodCount, floodCount+slowMailbox)

	// Refilled past the bound: a second episode, reported once more.
	s.flood(t, ps, "flood", 100, floodCount)
	s.accounted(t, slow, slowMailbox+2*(floodCount-slowMailbox))
	s.awaitReports(t, c, slow, 2)
	s.expectRange(t, slow, "flood", 100, 100+slowMailbox)
	if d, want := slow.Dropped(), uint64(2*(floodCount-slowMailbox)); d != want {
		t.Errorf("%v: Dropped() = %d after two episodes, want %d", slow, d, want)
	}
}

func testOverflowRemote(t *testing.T, s *suite) {
	c := s.start(t, 2)
	a, b := c.nodes[0], c.nodes[1]
	slow := subscribe(t, b, []string{"flood"}, pubsub.WithMailboxSize(slowMailbox))
	fast := subscribe(t, b, []string{"flood"}, pubsub.WithMailboxSize(2*floodCount))
	s.flood(t, a, "flood", 0, floodCount)
	// The receiving node keeps delivering to others while one of its subscribers is full.
	s.expectRange(t, fast, "flood", 0, floodCount)
	s.accounted(t, slow, floodCount)
	if d := slow.Dropped(); d != floodCount-slowMailbox {
		t.Errorf("%v: Dropped() = %d, want %d", slow, d, floodCount-slowMailbox)
	}
	s.awaitReports(t, c, slow, 1)
	s.expectRange(t, slow, "flood", 0, slowMailbox)
}
