package phoenixpresence_test

import (
	"context"
	"fmt"
	"log"

	"github.com/alicebob/miniredis/v2"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
	"github.com/phxgo/pubsub/phoenixpresence"
)

// conn stands for whatever owns a presence: a connection, a session. Its Done channel closing ends
// its presences.
type conn struct{ done chan struct{} }

func (c *conn) Done() <-chan struct{} { return c.done }

// A Go worker joins MyApp.Presence: what it tracks is listed by MyApp.Presence.list("room:lobby") on
// the Elixir nodes, and List shows the Elixir presences beside its own.
func Example() {
	redisServer, err := miniredis.Run() // in production: the Phoenix application's Redis
	if err != nil {
		log.Fatal(err)
	}
	defer redisServer.Close()
	ctx := context.Background()

	a, err := phoenixadapter.New(phoenixadapter.Config{
		URL:        "redis://" + redisServer.Addr(),
		PubSubName: "MyApp.PubSub", // {Phoenix.PubSub, name: MyApp.PubSub, adapter: Phoenix.PubSub.Redis}
		NodeName:   "worker@127.0.0.1",
	})
	if err != nil {
		log.Fatal(err)
	}
	ps, err := pubsub.New(ctx, pubsub.Config{Name: "MyApp.PubSub", Adapter: a})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()
	pr, err := phoenixpresence.New(ps, a, phoenixpresence.Config{Name: "MyApp.Presence"}) // use Phoenix.Presence in MyApp.Presence
	if err != nil {
		log.Fatal(err)
	}
	defer pr.GracefulPermdown(ctx) // the Elixir nodes drop this node's presences at once

	c := &conn{done: make(chan struct{})}
	if _, err := pr.Track(c, "room:lobby", "worker-1", map[string]any{"status": "online"}); err != nil {
		log.Fatal(err)
	}
	for _, p := range pr.List("room:lobby") {
		fmt.Println(p.Key, p.Meta["status"], p.Replica)
	}
	// Output: worker-1 online worker@127.0.0.1
}
