package promexporter_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	promexporter "github.com/phxgo/pubsub/exporters/prometheus"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// gather registers c on a pedantic registry (which checks every metric against Describe) and returns
// every sample, keyed by name{label=value,…} with the labels in name order.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			if mf.GetType().String() != "COUNTER" {
				t.Errorf("%s is a %s, want a counter", key, mf.GetType())
			}
			out[key] = m.GetCounter().GetValue()
		}
	}
	return out
}

func TestLint(t *testing.T) {
	ps := newLocal(t, "lint")
	problems, err := testutil.CollectAndLint(promexporter.NewCollector(promexporter.WithPubSub(ps)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func newLocal(t *testing.T, name string) *pubsub.PubSub {
	t.Helper()
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

// On the local adapter: every pubsub counter, zero, with its labels; nothing else.
func TestLocalPubSub(t *testing.T) {
	ps := newLocal(t, "local")
	sub, err := ps.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe("t"); err != nil {
		t.Fatal(err)
	}
	if err := ps.Broadcast(context.Background(), "t", "hello"); err != nil {
		t.Fatal(err)
	}
	got := gather(t, promexporter.NewCollector(promexporter.WithPubSub(ps)))
	if len(got) != 16 { // received, 10 reasons of drop, reordered, rebased, gaps, gaps reported, duplicate nodes
		t.Errorf("%d samples, want 16: %v", len(got), got)
	}
	for _, key := range []string{
		`phxgo_pubsub_received_total{node=nonode@nohost,pubsub=local}`,
		`phxgo_pubsub_dropped_total{node=nonode@nohost,pubsub=local,reason=type}`,
		`phxgo_pubsub_gaps_reported_total{node=nonode@nohost,pubsub=local}`,
	} {
		if v, ok := got[key]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", key, v, ok)
		}
	}
}

func startRedisNode(t *testing.T, url, name, node string) (*pubsub.PubSub, *redisadapter.Adapter) {
	t.Helper()
	a, err := redisadapter.New(redisadapter.Config{URL: url, NodeName: node})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps, a
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Two nodes on a Redis (miniredis): b publishes, a message and a malformed frame reach b, whose PubSub, adapter
// and tracker counters the collector exports with their labels and the values their Stats hold.
func TestRedisAdapterAndTracker(t *testing.T) {
	srv := miniredis.RunT(t)
	url := "redis://" + srv.Addr() + "/0"
	psA, _ := startRedisNode(t, url, "chat", "a")
	psB, adB := startRedisNode(t, url, "chat", "b")
	tr, err := tracker.New(psB, tracker.Config{Name: "presence"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()

	sub, err := psB.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe("room"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := psA.Broadcast(ctx, "room", "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := psB.Broadcast(ctx, "elsewhere", "from b"); err != nil { // for b's Published
		t.Fatal(err)
	}
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer raw.Close()
	if err := raw.Publish(ctx, "phx:{chat}:broadcast", "not a frame").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the malformed frame's drop", func() bool { return psB.Stats().DroppedMalformed == 1 })

	got := gather(t, promexporter.NewCollector(
		promexporter.WithPubSub(psB),
		promexporter.WithRedisAdapter(psB, adB),
		promexporter.WithTracker(psB, "presence", tr),
	))
	if len(got) != 16+8+2 {
		t.Errorf("%d samples, want 26: %v", len(got), got)
	}
	s, as, ts := psB.Stats(), adB.Stats(), tr.Stats() // read after the scrape: counters only grow
	lb := `node=b,pubsub=chat`
	for key, check := range map[string]func(float64) error{
		`phxgo_pubsub_received_total{` + lb + `}`:                              between(1, s.Received),
		`phxgo_pubsub_dropped_total{` + lb + `,reason=malformed}`:              between(1, 1),
		`phxgo_pubsub_dropped_total{` + lb + `,reason=signature}`:              between(0, 0),
		`phxgo_pubsub_gaps_total{` + lb + `}`:                                  between(0, s.Gaps),
		`phxgo_redisadapter_published_total{` + lb + `}`:                       between(1, as.Published),
		`phxgo_redisadapter_received_total{` + lb + `}`:                        between(1, as.Received),
		`phxgo_redisadapter_rejected_total{` + lb + `}`:                        between(1, as.Rejected),
		`phxgo_redisadapter_dropped_total{` + lb + `,reason=too_large}`:        between(0, 0),
		`phxgo_redisadapter_reconnects_total{` + lb + `}`:                      between(0, as.Reconnects),
		`phxgo_tracker_dropped_gossip_total{` + lb + `,tracker=presence}`:      between(0, ts.DroppedGossip),
		`phxgo_tracker_send_errors_total{node=b,pubsub=chat,tracker=presence}`: between(0, ts.SendErrors),
	} {
		v, ok := got[key]
		if !ok {
			t.Errorf("no sample %s", key)
			continue
		}
		if err := check(v); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
}

func between(lo, hi uint64) func(float64) error {
	return func(v float64) error {
		if v < float64(lo) || v > float64(hi) {
			return fmt.Errorf("%v, want %d..%d", v, lo, hi)
		}
		return nil
	}
}

// Two PubSubs of one process: their samples differ by label, so one registry takes both.
func TestTwoPubSubs(t *testing.T) {
	got := gather(t, promexporter.NewCollector(
		promexporter.WithPubSub(newLocal(t, "one")),
		promexporter.WithPubSub(newLocal(t, "two")),
	))
	if len(got) != 32 {
		t.Errorf("%d samples, want 32", len(got))
	}
}
