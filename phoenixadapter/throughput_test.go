package phoenixadapter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// TestLiveThroughput measures, through one Redis and against the real Phoenix node, how fast the
// Elixir node itself broadcasts, how fast Go receives what it broadcasts (Elixir → Go), and how fast
// Go broadcasts and the Elixir node receives (Go → Elixir). The Go side must never be the bottleneck:
// it must take every message Elixir sends as fast as Elixir sends them, and send faster than Elixir
// does. Figures go to the log (docs/benchmarks.md has a run). Slow: only with PHXGO_PHOENIX_THROUGHPUT=1.
func TestLiveThroughput(t *testing.T) {
	if os.Getenv("PHXGO_PHOENIX_THROUGHPUT") != "1" {
		t.Skip("set PHXGO_PHOENIX_THROUGHPUT=1 (with PHOENIX_PEER) to measure the throughput against the real Phoenix node")
	}
	n := 20000
	if s := os.Getenv("PHXGO_PHOENIX_THROUGHPUT_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	p, ps, a := livePair(t, phoenixadapter.Config{})
	payload := map[string]any{"id": 123456, "user": "alice", "body": "hello, world", "room": "room:lobby", "count": 42,
		"score": 0.75, "admin": false, "edited": nil, "tags": []any{"a", "b"}, "meta": map[string]any{"v": 1}}
	elixirPayload := `%{"id" => 123456, "user" => "alice", "body" => "hello, world", "room" => "room:lobby", "count" => 42, "score" => 0.75, "admin" => false, "edited" => nil, "tags" => ["a", "b"], "meta" => %{"v" => 1}}`

	// Elixir → Go, and Elixir's own broadcast rate: 1 and then 8 Elixir processes broadcasting n
	// messages in all (phoenix_pubsub_redis publishes through a pool of 5 connections).
	var elixirRate, goRecvRate float64
	for _, procs := range []int{1, 8} {
		topic := "bench" + strconv.Itoa(procs)
		sub, err := ps.NewSubscriber(pubsub.WithMailboxSize(n))
		if err != nil {
			t.Fatal(err)
		}
		sub.Subscribe(topic)
		var first, last time.Time
		var got int
		recvDone := make(chan struct{})
		go func() {
			defer close(recvDone)
			for got < n {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				_, err := sub.Receive(ctx)
				cancel()
				if err != nil {
					return
				}
				if got == 0 {
					first = time.Now()
				}
				got++
				last = time.Now()
			}
		}()
		r := p.Do(map[string]any{"cmd": "eval", "code": fmt.Sprintf(`
			msg = %s
			{us, _} = :timer.tc(fn ->
				1..%d |> Task.async_stream(fn _ -> for _ <- 1..%d, do: Phoenix.PubSub.broadcast(pubsub, %q, msg) end,
					max_concurrency: %d, timeout: :infinity) |> Stream.run()
			end)
			us`, elixirPayload, procs, n/procs, topic, procs)})
		elixirUS, _ := r["result"].(json.Number).Float64()
		<-recvDone
		sub.Close()
		if got != n {
			t.Fatalf("Go received %d of the %d messages Elixir broadcast (adapter %+v, dropped %d)", got, n, a.Stats(), sub.Dropped())
		}
		eRate, gRate := float64(n)/(elixirUS/1e6), float64(n-1)/last.Sub(first).Seconds()
		t.Logf("Elixir broadcasts %d messages from %d process(es): %.0f msg/s; Go received all %d at %.0f msg/s (first to last)", n, procs, eRate, n, gRate)
		if eRate > elixirRate {
			elixirRate, goRecvRate = eRate, gRate
		}
	}

	// Go → Elixir: an Elixir process counts what it receives; Go broadcasts from 1 and from 8 goroutines.
	for _, senders := range []int{1, 8} {
		topic := "gobench" + strconv.Itoa(senders)
		p.Do(map[string]any{"cmd": "eval", "code": fmt.Sprintf(`
			Task.start(fn ->
				Phoenix.PubSub.subscribe(pubsub, %q)
				:persistent_term.put({:gobench, %q}, :subscribed)
				first = receive do _ -> System.monotonic_time(:microsecond) end
				Enum.each(2..%d, fn _ -> receive do _ -> :ok end end)
				:persistent_term.put({:gobench, %q}, System.monotonic_time(:microsecond) - first)
			end)
			:ok`, topic, topic, n, topic)})
		waitTerm := func(what string, done func(any) bool) any {
			deadline := time.Now().Add(120 * time.Second)
			for time.Now().Before(deadline) {
				r := p.Do(map[string]any{"cmd": "eval", "code": fmt.Sprintf(`:persistent_term.get({:gobench, %q}, nil)`, topic)})
				if done(r["result"]) {
					return r["result"]
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatalf("Elixir: %s: not within 120 s", what)
			return nil
		}
		waitTerm("subscribed", func(v any) bool { return v != nil })
		start := time.Now()
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for i := s; i < n; i += senders {
					if err := ps.Broadcast(context.Background(), topic, payload); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		goSendRate := float64(n) / time.Since(start).Seconds()
		v := waitTerm("all messages received", func(v any) bool { _, ok := v.(json.Number); return ok })
		us, _ := v.(json.Number).Float64()
		t.Logf("Go broadcasts %d messages from %d goroutine(s): %.0f msg/s; Elixir received all at %.0f msg/s (first to last)",
			n, senders, goSendRate, float64(n-1)/(us/1e6))
		if goSendRate < elixirRate {
			t.Logf("NOTE: Go sent slower (%.0f msg/s) than Elixir broadcasts (%.0f msg/s) with %d sender(s)", goSendRate, elixirRate, senders)
		}
	}
	if goRecvRate < 0.9*elixirRate {
		t.Errorf("Go received at %.0f msg/s, slower than Elixir sends (%.0f msg/s): Go is the bottleneck", goRecvRate, elixirRate)
	}
}
