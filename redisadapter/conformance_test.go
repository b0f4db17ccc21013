package redisadapter_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
	"github.com/phxgo/pubsub/redisadapter"
)

// factory starts n nodes on the Redis at url, with the default probe: a loaded test machine must not be mistaken for a dead subscription.
func factory(url string) pubsubtest.Factory {
	return func(t testing.TB, n int, cfg pubsub.Config) []*pubsub.PubSub {
		nodes := make([]*pubsub.PubSub, n)
		for i := range nodes {
			a, err := redisadapter.New(redisadapter.Config{URL: url, NodeName: "node" + strconv.Itoa(i), ProbeInterval: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			c := cfg
			c.Adapter = a
			ps, err := pubsub.New(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ps.Close() })
			nodes[i] = ps
		}
		return nodes
	}
}

func TestConformanceMiniredis(t *testing.T) {
	_, url := miniURL(t)
	pubsubtest.Run(t, factory(url), pubsubtest.Features{Nodes: 3})
}

func TestConformanceRealRedis(t *testing.T) {
	pubsubtest.Run(t, factory(realRedisURL(t)), pubsubtest.Features{Nodes: 3})
}

// routedFactory is factory with Config.RouteByTopic: each node receives the buckets of its topics only.
// The linger is short so that the checks' subscription churn also unsubscribes buckets.
func routedFactory(url string) pubsubtest.Factory {
	return func(t testing.TB, n int, cfg pubsub.Config) []*pubsub.PubSub {
		nodes := make([]*pubsub.PubSub, n)
		for i := range nodes {
			a, err := redisadapter.New(redisadapter.Config{URL: url, NodeName: "node" + strconv.Itoa(i), ProbeInterval: time.Second,
				RouteByTopic: true, RouteLinger: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			c := cfg
			c.Adapter = a
			ps, err := pubsub.New(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ps.Close() })
			nodes[i] = ps
		}
		return nodes
	}
}

func TestConformanceRoutedMiniredis(t *testing.T) {
	_, url := miniURL(t)
	pubsubtest.Run(t, routedFactory(url), pubsubtest.Features{Nodes: 3})
}

func TestConformanceRoutedRealRedis(t *testing.T) {
	pubsubtest.Run(t, routedFactory(realRedisURL(t)), pubsubtest.Features{Nodes: 3})
}
