// Command phoenix is a Go worker inside an Elixir Phoenix application's PubSub, through the Redis its
// Phoenix.PubSub.Redis adapter uses. It listens for jobs the Elixir side broadcasts on "jobs", does
// them, pushes a "job_done" event straight to the browsers joined to the Phoenix channel "room:lobby"
// (as MyAppWeb.Endpoint.broadcast would), and answers the node that asked with a direct broadcast.
// It is also listed in the application's Presence (MyApp.Presence.list("workers") on the Elixir side,
// with the jobs it has done in its meta), through package phoenixpresence (experimental).
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
// and MyApp.Presence lists the worker:
//
//	  {"id":4,"cmd":"list","topic":"workers"}
//	{"cmd":"list",...,"result":{"go-worker@127.0.0.1":{"metas":[{"jobs":1,"phx_ref":"...","phx_ref_prev":"...","status":"idle"}]}}}
//
// Stopped with Ctrl-C, the worker leaves the Presence at once (a graceful permdown).
//
// Environment: REDIS_URL (default redis://127.0.0.1:6379), PHX_PUBSUB (the Elixir PubSub's name,
// default MyApp.PubSub), PHX_PRESENCE (the Presence module, default MyApp.Presence), GO_NODE (this
// node's name, default go-worker@127.0.0.1).
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
	"github.com/phxgo/pubsub/phoenixpresence"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := phoenixadapter.Config{
		URL:        env("REDIS_URL", "redis://127.0.0.1:6379"),
		PubSubName: env("PHX_PUBSUB", "MyApp.PubSub"),
		NodeName:   env("GO_NODE", "go-worker@127.0.0.1"),
	}
	if err := run(ctx, cfg, env("PHX_PRESENCE", "MyApp.Presence"), nil); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run joins the Phoenix PubSub and the Presence called presenceName, and works jobs until ctx ends.
// ready, if not nil, is closed once the worker listens.
func run(ctx context.Context, cfg phoenixadapter.Config, presenceName string, ready chan<- struct{}) error {
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
	// Listed in MyApp.Presence under "workers" while the jobs subscriber (the presence's owner) is open.
	pr, err := phoenixpresence.New(ps, a, phoenixpresence.Config{Name: presenceName})
	if err != nil {
		return err
	}
	defer func() {
		pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pr.GracefulPermdown(pctx) // the Elixir nodes drop the worker at once
	}()
	if _, err := pr.Track(jobs, "workers", a.NodeName(), map[string]any{"status": "idle", "jobs": 0}); err != nil {
		return err
	}
	log.Printf("node %s listening on %q of Phoenix PubSub %s (Redis channel %s)", a.NodeName(), "jobs", cfg.PubSubName, a.Channel())
	if ready != nil {
		close(ready)
	}
	done := 0
	for {
		msg, err := jobs.Receive(ctx)
		if err != nil {
			return err
		}
		if err := work(ctx, ps, a.NodeName(), msg.Payload); err != nil {
			log.Printf("job %v: %v", msg.Payload, err)
			continue
		}
		done++
		if _, err := pr.Update(jobs, "workers", a.NodeName(), map[string]any{"status": "idle", "jobs": done}); err != nil {
			log.Printf("presence: %v", err)
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
