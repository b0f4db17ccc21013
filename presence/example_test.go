package presence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strings"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/fastlane"
	"github.com/phxgo/pubsub/presence"
	"github.com/phxgo/pubsub/tracker"
)

// Each connection is a subscriber of the room that also owns its user's presence: List is what a new
// client receives (presence_state), and every join and leave reaches the room's subscribers as a Diff
// (presence_diff), once each, whichever node it happened on.
func Example() {
	ctx := context.Background()
	ps, err := pubsub.New(ctx, pubsub.Config{Name: "chat"}) // with an adapter, on every node
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()
	p, err := presence.New(ps, presence.Config{Tracker: tracker.TestConfig("presence", nil)})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	connect := func(user string) *pubsub.Subscriber {
		conn, err := ps.NewSubscriber()
		if err != nil {
			log.Fatal(err)
		}
		if err := conn.Subscribe("room:lobby"); err != nil {
			log.Fatal(err)
		}
		if _, err := p.Track(conn, "room:lobby", user, map[string]any{"device": "phone"}); err != nil {
			log.Fatal(err)
		}
		return conn
	}
	alice := connect("alice")
	show := func(what string, ps presence.Presences) {
		for _, key := range ps.Keys() {
			fmt.Printf("%s %s on %d device(s), first a %s\n", what, key, len(ps[key].Metas), ps[key].Metas[0]["device"])
		}
	}
	show("joined:", (<-alice.C()).Payload.(presence.Diff).Joins) // her own join

	bob := connect("bob")
	show("joined:", (<-alice.C()).Payload.(presence.Diff).Joins)
	show("listed:", p.List("room:lobby"))

	bob.Close() // bob's connection ends, and with it his presence
	show("left:", (<-alice.C()).Payload.(presence.Diff).Leaves)
	// Output:
	// joined: alice on 1 device(s), first a phone
	// joined: bob on 1 device(s), first a phone
	// listed: alice on 1 device(s), first a phone
	// listed: bob on 1 device(s), first a phone
	// left: bob on 1 device(s), first a phone
}

// With the fastlane as the dispatcher, each diff is encoded to JSON once per node and the same frame is
// written to every connection of the topic: Phoenix's {"joins": {key: {"metas": [...]}}, "leaves": {}}.
func ExampleConfig_fastlane() {
	ctx := context.Background()
	ps, err := pubsub.New(ctx, pubsub.Config{
		Name:        "chat",
		Dispatchers: map[string]pubsub.Dispatcher{fastlane.Name: &fastlane.Dispatcher{}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()
	p, err := presence.New(ps, presence.Config{
		Tracker:    tracker.TestConfig("presence", nil),
		Dispatcher: fastlane.Name,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ws := fastlane.NewChanWriter(16) // a websocket's outbound queue
	conn, err := ps.NewSubscriber()
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Subscribe("room:lobby", fastlane.WithWriter(ws)); err != nil {
		log.Fatal(err)
	}
	ref, err := p.Track(conn, "room:lobby", "alice", map[string]any{"node": ps.NodeName()})
	if err != nil {
		log.Fatal(err)
	}
	frame := string(<-ws.C())
	fmt.Println(strings.ReplaceAll(frame, ref, "REF"))

	state, err := json.Marshal(p.List("room:lobby")) // presence_state, for a client that joins
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.ReplaceAll(string(state), ref, "REF"))
	// Output:
	// {"topic":"room:lobby","payload":{"joins":{"alice":{"metas":[{"node":"nonode@nohost","phx_ref":"REF"}]}},"leaves":{}}}
	// {"alice":{"metas":[{"node":"nonode@nohost","phx_ref":"REF"}]}}
}

// Fetch adds data of its own to every entry, once per diff on each node rather than once per client:
// Phoenix's fetch/2.
func ExampleConfig_fetch() {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "chat"})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()
	names := map[string]string{"u1": "Alice"} // a database, say
	p, err := presence.New(ps, presence.Config{
		Tracker: tracker.TestConfig("presence", nil),
		Fetch: func(topic string, entries presence.Presences) presence.Presences {
			out := make(presence.Presences, len(entries))
			for key, e := range entries {
				e.Fields = map[string]any{"name": names[key]}
				out[key] = e
			}
			return out
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	conn, err := ps.NewSubscriber()
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if _, err := p.Track(conn, "room:lobby", "u1", nil); err != nil {
		log.Fatal(err)
	}
	e, _ := p.GetByKey("room:lobby", "u1")
	fmt.Println(e.Fields["name"], len(e.Metas))
	// Output:
	// Alice 1
}
