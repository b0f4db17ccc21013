package tracker_test

import (
	"context"
	"fmt"
	"log"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/tracker"
)

// Presence on one node: a subscriber (one per connected user, say) owns its presences, which end when
// it closes. With an adapter, every node of the PubSub lists the same presences.
func Example() {
	ctx := context.Background()
	ps, err := pubsub.New(ctx, pubsub.Config{Name: "chat"})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()

	diffs := make(chan map[string]tracker.Diff, 4)
	t, err := tracker.New(ps, tracker.TestConfig("presence", tracker.HandlerFunc(func(d map[string]tracker.Diff) {
		diffs <- d // runs on every node: notify local subscribers with ps.LocalBroadcast
	})))
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()

	alice, err := ps.NewSubscriber() // alice's connection
	if err != nil {
		log.Fatal(err)
	}
	if _, err := t.Track(alice, "room:lobby", "alice", map[string]any{"status": "online"}); err != nil {
		log.Fatal(err)
	}
	for _, p := range t.List("room:lobby") {
		fmt.Println("present:", p.Key, p.Meta["status"])
	}
	fmt.Println("joined:", (<-diffs)["room:lobby"].Joins[0].Key)

	alice.Close() // the connection ends: so do its presences
	fmt.Println("left:", (<-diffs)["room:lobby"].Leaves[0].Key)
	fmt.Println("present now:", len(t.List("room:lobby")))
	// Output:
	// present: alice online
	// joined: alice
	// left: alice
	// present now: 0
}

// A presence's refs: Track returns its Ref; Update gives it a new one and keeps the old as RefPrev.
// Meta is the user's metadata alone, shared and read-only; WithRefs gives it as Phoenix shows it.
func ExamplePresence_WithRefs() {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "chat"})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()
	t, err := tracker.New(ps, tracker.TestConfig("presence", nil))
	if err != nil {
		log.Fatal(err)
	}
	defer t.Close()
	alice, err := ps.NewSubscriber()
	if err != nil {
		log.Fatal(err)
	}
	first, err := t.Track(alice, "room:lobby", "alice", map[string]any{"status": "online"})
	if err != nil {
		log.Fatal(err)
	}
	second, err := t.Update(alice, "room:lobby", "alice", map[string]any{"status": "away"})
	if err != nil {
		log.Fatal(err)
	}
	p := t.GetByKey("room:lobby", "alice")[0]
	fmt.Println(p.Meta, p.Ref == second, p.RefPrev == first)
	m := p.WithRefs()
	fmt.Println(m["status"], m["phx_ref"] == second, m["phx_ref_prev"] == first)
	// Output:
	// map[status:away] true true
	// away true true
}
