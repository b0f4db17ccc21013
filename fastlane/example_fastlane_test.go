package fastlane_test

import (
	"context"
	"fmt"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/fastlane"
)

// Connections subscribe with their writer as metadata; a broadcast through the fastlane is encoded once
// and the same frame is written to every connection. A subscriber without a writer still gets the
// message in its mailbox.
func ExampleDispatcher() {
	fl := &fastlane.Dispatcher{} // frames are JSON: {"topic": ..., "payload": ...}
	ps, err := pubsub.New(context.Background(), pubsub.Config{
		Name:        "app",
		Dispatchers: map[string]pubsub.Dispatcher{fastlane.Name: fl},
	})
	if err != nil {
		panic(err)
	}
	defer ps.Close()

	var conns []*fastlane.ChanWriter
	for range 3 {
		conn := fastlane.NewChanWriter(16) // a websocket's outbound queue, say
		conns = append(conns, conn)
		connSub, err := ps.NewSubscriber()
		if err != nil {
			panic(err)
		}
		if err := connSub.Subscribe("room:lobby", fastlane.WithWriter(conn)); err != nil {
			panic(err)
		}
	}
	audit, err := ps.NewSubscriber() // no fastlane metadata: receives pubsub.Messages
	if err != nil {
		panic(err)
	}
	if err := audit.Subscribe("room:lobby"); err != nil {
		panic(err)
	}

	type chat struct {
		User string `json:"user"`
		Body string `json:"body"`
	}
	err = ps.Broadcast(context.Background(), "room:lobby", chat{User: "shane", Body: "hello"},
		pubsub.WithDispatcher(fastlane.Name))
	if err != nil {
		panic(err)
	}

	for i, conn := range conns {
		fmt.Printf("conn %d: %s\n", i, <-conn.C())
	}
	fmt.Printf("audit: %+v\n", (<-audit.C()).Payload)
	st := fl.Stats()
	fmt.Printf("encoded %d time(s), wrote %d frame(s)\n", st.Encodes, st.Writes)
	// Output:
	// conn 0: {"topic":"room:lobby","payload":{"user":"shane","body":"hello"}}
	// conn 1: {"topic":"room:lobby","payload":{"user":"shane","body":"hello"}}
	// conn 2: {"topic":"room:lobby","payload":{"user":"shane","body":"hello"}}
	// audit: {User:shane Body:hello}
	// encoded 1 time(s), wrote 3 frame(s)
}
