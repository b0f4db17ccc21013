// Command phoenix is a Go worker inside an Elixir Phoenix application's PubSub, through the Redis its
// Phoenix.PubSub.Redis adapter uses. It listens for jobs the Elixir side broadcasts on "jobs", does
// them, pushes a "job_done" event straight to the browsers joined to the Phoenix channel "room:lobby"
// (as MyAppWeb.Endpoint.broadcast would), and answers the node that asked with a direct broadcast.
//
// Run it against the phoenix-peer of ../shared/interop (a real Elixir node), from the project root:
//
//	redis-server --port 6390 --save '' --appendonly no --daemonize yes
//	PHOENIX_PEER=$(bash ../shared/interop/build.sh | sed -n 's/^phoenix-peer ready: //p')
//	REDIS_URL=redis://127.0.0.1:6390 PHX_NODE=elixir@127.0.0.1 $PHOENIX_PEER      # type into it:
//	  {"id":1,"cmd":"subscribe","topic":"room:lobby","fastlane":true}
//	  {"id":2,"cmd":"subscribe","topic":"replies"}
//
//	REDIS_URL=redis://127.0.0.1:6390 go run ./examples/phoenix                     # another terminal
//
//	  {"id":3,"cmd":"broadcast","topic":"jobs","payload":{"id":7,"task":"resize","from":"elixir@127.0.0.1"}}
//
// The peer then prints the websocket frame a Phoenix JS client in "room:lobby" receives, and the reply:
//
//	{"event":"socket_push","text":"[null,null,\"room:lobby\",\"job_done\",{\"by\":\"go-worker@127.0.0.1\",\"id\":7,\"task\":\"resize\"}]",...}
//	{"event":"message","topic":"replies","payload":{"id":7,"status":"done"},...}
//
// Environment: REDIS_URL (default redis://127.0.0.1:6379), PHX_PUBSUB (the Elixir PubSub's name,
// default MyApp.PubSub), GO_NODE (this node's name, default go-worker@127.0.0.1).
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := phoenixadapter.Config{
		URL:        env("REDIS_URL", "redis://127.0.0.1:6379"),
		PubSubName: env("PHX_PUBSUB", "MyApp.PubSub"),
		NodeName:   env("GO_NODE", "go-worker@127.0.0.1"),
	}
	if err := run(ctx, cfg, nil); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run joins the Phoenix PubSub and works jobs until ctx ends. ready, if not nil, is closed once the
// worker listens.
func run(ctx context.Context, cfg phoenixadapter.Config, ready chan<- struct{}) error {
	a, err := phoenixadapter.New(cfg)
	if err != nil {
		return err
	}
	ps, err := pubsub.New(ctx, pubsub.Config{Name: cfg.PubSubName, Adapter: a})
	if err != nil {
		return err
	}
	defer ps.Close()
	jobs, err := ps.NewSubscriber()
	if err != nil {
		return err
	}
	if err := jobs.Subscribe("jobs"); err != nil {
		return err
	}
	log.Printf("node %s listening on %q of Phoenix PubSub %s (Redis channel %s)", a.NodeName(), "jobs", cfg.PubSubName, a.Channel())
	if ready != nil {
		close(ready)
	}
	for {
		msg, err := jobs.Receive(ctx)
		if err != nil {
			return err
		}
		if err := work(ctx, ps, a.NodeName(), msg.Payload); err != nil {
			log.Printf("job %v: %v", msg.Payload, err)
		}
	}
}

// work does one job: a map with binary keys, as Elixir's %{"id" => 7, "task" => "resize"}.
func work(ctx context.Context, ps *pubsub.PubSub, node string, payload any) error {
	job, ok := payload.(map[string]any)
	if !ok {
		return fmt.Errorf("not a job: %T", payload)
	}
	log.Printf("job %v: %v", job["id"], job["task"])
	// To the browsers in room:lobby: the exact JSON of MyAppWeb.Endpoint.broadcast("room:lobby", "job_done", ...).
	done := phoenixadapter.SocketBroadcast{Topic: "room:lobby", Event: "job_done",
		Payload: map[string]any{"id": job["id"], "task": job["task"], "by": node}}
	if err := ps.Broadcast(ctx, "room:lobby", done); err != nil {
		return err
	}
	// To the node that asked, only: Phoenix.PubSub.direct_broadcast.
	if from, ok := job["from"].(string); ok {
		return ps.DirectBroadcast(ctx, from, "replies", map[string]any{"id": job["id"], "status": "done"})
	}
	return nil
}
