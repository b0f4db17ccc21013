package tracker

import (
	"errors"
	"testing"
	"testing/synctest"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
)

// otherTopics is a gap scope that affects every topic but one.
type otherTopics string

func (o otherTopics) Affects(topic string) bool { return topic != string(o) }
func (o otherTopics) String() string            { return "all but " + string(o) }

// A shard resynchronises after a gap that affects its gossip topic (an unscoped one: a reconnect), and
// ignores a gap scoped to other topics (a routed bucket's loss), which cannot have cost it gossip.
//
// In a synctest bubble, so that no tick (which sends the requests and clears the flag) runs between a
// gap and the check.
func TestGapScopedToOtherTopicsIsIgnored(t *testing.T) {
	synctest.Test(t, testGapScopedToOtherTopicsIsIgnored)
}

func testGapScopedToOtherTopicsIsIgnored(t *testing.T) {
	h := pubsubtest.NewCluster()
	a := start(t, h, "a", TestConfig("presence", nil))
	s := a.tr.shards[0]
	pending := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.gapPending
	}
	reason := errors.New("test gap")

	s.receive(pubsub.Message{Topic: pubsub.GapTopic, Payload: pubsub.Gap{Node: "a", Reason: reason, Scope: otherTopics(s.topic)}})
	if pending() {
		t.Fatal("a gap scoped to other topics made the shard resynchronise")
	}
	s.receive(pubsub.Message{Topic: pubsub.GapTopic, Payload: pubsub.Gap{Node: "a", Reason: reason, Scope: otherTopics("elsewhere")}})
	if !pending() {
		t.Fatal("a gap scoped to the shard's gossip topic did not make it resynchronise")
	}
}

func TestUnscopedGapResynchronises(t *testing.T) {
	synctest.Test(t, testUnscopedGapResynchronises)
}

func testUnscopedGapResynchronises(t *testing.T) {
	h := pubsubtest.NewCluster()
	a := start(t, h, "a", TestConfig("presence", nil))
	s := a.tr.shards[0]
	s.receive(pubsub.Message{Topic: pubsub.GapTopic, Payload: pubsub.Gap{Node: "a", Reason: errors.New("reconnect")}})
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.gapPending {
		t.Fatal("an unscoped gap did not make the shard resynchronise")
	}
}
