package otelexporter_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/phxgo/pubsub"
	otelexporter "github.com/phxgo/pubsub/exporters/otel"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// collect registers the sources on a fresh SDK MeterProvider with a ManualReader, collects once, and
// returns every data point keyed by name{attributes}; every metric must be a cumulative monotonic sum.
func collect(t *testing.T, opts ...otelexporter.Option) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)
	reg, err := otelexporter.Register(provider.Meter("test"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !sum.IsMonotonic || sum.Temporality != metricdata.CumulativeTemporality {
				t.Errorf("%s: %T (monotonic %v, %v), want a cumulative monotonic Sum[int64]", m.Name, m.Data, sum.IsMonotonic, sum.Temporality)
			}
			if m.Unit == "" || m.Description == "" {
				t.Errorf("%s: unit %q, description %q", m.Name, m.Unit, m.Description)
			}
			for _, p := range sum.DataPoints {
				out[m.Name+"{"+p.Attributes.Encoded(attribute.DefaultEncoder())+"}"] = p.Value
			}
		}
	}
	return out
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
	got := collect(t, otelexporter.WithPubSub(ps))
	if len(got) != 16 {
		var keys []string
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("%d points, want 16: %v", len(got), keys)
	}
	for _, key := range []string{
		"phxgo.pubsub.received{node=nonode@nohost,pubsub=local}",
		"phxgo.pubsub.dropped{node=nonode@nohost,pubsub=local,reason=type}",
		"phxgo.pubsub.gaps_reported{node=nonode@nohost,pubsub=local}",
	} {
		if v, ok := got[key]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", key, v, ok)
		}
	}
}

func TestUnregister(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)
	reg, err := otelexporter.Register(provider.Meter("test"), otelexporter.WithPubSub(newLocal(t, "u")))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if n := len(m.Data.(metricdata.Sum[int64]).DataPoints); n != 0 {
				t.Errorf("%s: %d points after Unregister", m.Name, n)
			}
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

// Two nodes on a Redis (miniredis): b publishes, a message and a malformed frame reach b, whose PubSub,
// adapter and tracker counters are observed with their attributes and the values their Stats hold.
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
	for deadline := time.Now().Add(5 * time.Second); psB.Stats().DroppedMalformed != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the malformed frame's drop")
		}
	}

	got := collect(t,
		otelexporter.WithPubSub(psB),
		otelexporter.WithRedisAdapter(psB, adB),
		otelexporter.WithTracker(psB, "presence", tr),
	)
	if len(got) != 16+8+2 {
		t.Errorf("%d points, want 26: %v", len(got), got)
	}
	s, as, ts := psB.Stats(), adB.Stats(), tr.Stats() // read after the collection: counters only grow
	lb := "node=b,pubsub=chat"
	for key, check := range map[string]func(int64) error{
		"phxgo.pubsub.received{" + lb + "}":                         between(1, s.Received),
		"phxgo.pubsub.dropped{" + lb + ",reason=malformed}":         between(1, 1),
		"phxgo.pubsub.dropped{" + lb + ",reason=signature}":         between(0, 0),
		"phxgo.pubsub.gaps{" + lb + "}":                             between(0, s.Gaps),
		"phxgo.redisadapter.published{" + lb + "}":                  between(1, as.Published),
		"phxgo.redisadapter.received{" + lb + "}":                   between(1, as.Received),
		"phxgo.redisadapter.rejected{" + lb + "}":                   between(1, as.Rejected),
		"phxgo.redisadapter.dropped{" + lb + ",reason=too_large}":   between(0, 0),
		"phxgo.redisadapter.reconnects{" + lb + "}":                 between(0, as.Reconnects),
		"phxgo.tracker.dropped_gossip{" + lb + ",tracker=presence}": between(0, ts.DroppedGossip),
		"phxgo.tracker.send_errors{" + lb + ",tracker=presence}":    between(0, ts.SendErrors),
	} {
		v, ok := got[key]
		if !ok {
			t.Errorf("no point %s", key)
			continue
		}
		if err := check(v); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
}

func between(lo, hi uint64) func(int64) error {
	return func(v int64) error {
		if v < int64(lo) || v > int64(hi) {
			return fmt.Errorf("%v, want %d..%d", v, lo, hi)
		}
		return nil
	}
}
