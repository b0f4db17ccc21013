package pubsub_test

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

// BenchmarkColdSubscribe measures Subscribe to a topic nobody holds, and Unsubscribe from it, among
// 1 000 000 other subscriptions (1 000 subscribers, each on 1 000 topics of its own): the map probes
// miss the cache, as on a busy node. Each batch subscribes 10 000 subscribers (in turn) to fresh topics,
// then unsubscribes them in random order; ns/subscribe and ns/unsubscribe are per call. ns/op is per
// pair.
func BenchmarkColdSubscribe(b *testing.B) {
	const (
		subscribers = 1000
		held        = 1000
		batch       = 10_000
	)
	ps := newPS(b, pubsub.Config{})
	subs := make([]*pubsub.Subscriber, subscribers)
	for i := range subs {
		subs[i] = newSub(b, ps)
		for j := range held {
			if err := subs[i].Subscribe("held:" + strconv.Itoa(i*held+j)); err != nil {
				b.Fatal(err)
			}
		}
	}
	topics := make([]string, batch)
	for i := range topics {
		topics[i] = "fresh:" + strconv.Itoa(i)
	}
	order := rand.Perm(batch)
	var subNs, unsubNs time.Duration
	calls := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		for i, topic := range topics {
			subs[i%subscribers].Subscribe(topic)
		}
		t1 := time.Now()
		for _, i := range order {
			subs[i%subscribers].Unsubscribe(topics[i])
		}
		subNs += t1.Sub(t0)
		unsubNs += time.Since(t1)
		calls += batch
	}
	b.ReportMetric(float64(subNs.Nanoseconds())/float64(calls), "ns/subscribe")
	b.ReportMetric(float64(unsubNs.Nanoseconds())/float64(calls), "ns/unsubscribe")
	b.ReportMetric(0, "ns/op")
}
