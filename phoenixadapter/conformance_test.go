package phoenixadapter_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
	"github.com/phxgo/pubsub/pubsubtest"
)

// factory starts n nodes on the Redis at url, on the channel of the suite's PubSub name.
func factory(url string) pubsubtest.Factory {
	return func(t testing.TB, n int, cfg pubsub.Config) []*pubsub.PubSub {
		// The suite's dispatchers are Go's only: they travel as modules no Elixir node has (a real
		// application maps its Go dispatchers to modules its Elixir nodes have).
		modules := map[string]string{}
		for name := range cfg.Dispatchers {
			modules[name] = "PhxGo.Test." + name
		}
		nodes := make([]*pubsub.PubSub, n)
		for i := range nodes {
			a, err := phoenixadapter.New(phoenixadapter.Config{URL: url, NodeName: "node" + strconv.Itoa(i) + "@test", Dispatchers: modules, GoPayloads: true})
			if err != nil {
				t.Fatal(err)
			}
			c := cfg
			c.Adapter = a
			ps, err := pubsub.New(context.Background(), c)
			if err != nil {
				for _, p := range nodes[:i] {
					p.Close()
				}
				t.Fatal(err)
			}
			nodes[i] = ps
		}
		return nodes
	}
}

func TestConformanceMiniredis(t *testing.T) {
	_, url := miniURL(t)
	pubsubtest.Run(t, factory(url), pubsubtest.Features{Nodes: 3, NativeValues: true})
}

// TestAdapterContractMiniredis checks the adapter against pubsub.Adapter's contract, each cluster on a
// miniredis of its own; Disrupt restarts it, and the disrupted node must report a gap.
func TestAdapterContractMiniredis(t *testing.T) {
	var servers sync.Map // pubsub.Adapter → *miniredis.Miniredis
	pubsubtest.RunAdapter(t, func(t testing.TB, n int, name string) []pubsub.Adapter {
		m := miniredis.RunT(t)
		adapters := make([]pubsub.Adapter, n)
		for i := range adapters {
			a, err := phoenixadapter.New(phoenixadapter.Config{URL: "redis://" + m.Addr() + "/0", NodeName: "node" + strconv.Itoa(i) + "@test"})
			if err != nil {
				for _, a := range adapters[:i] {
					a.Close()
				}
				t.Fatal(err)
			}
			servers.Store(pubsub.Adapter(a), m)
			adapters[i] = a
		}
		return adapters
	}, pubsubtest.AdapterFeatures{
		Nodes:               3,
		DirectWithoutOrigin: true, // :only frames name their target, not their sender
		Disrupt: func(t testing.TB, a pubsub.Adapter) {
			v, _ := servers.Load(a)
			m := v.(*miniredis.Miniredis)
			m.Close()
			if err := m.Restart(); err != nil {
				t.Fatalf("restart miniredis: %v", err)
			}
		},
	})
}

func TestConformanceRealRedis(t *testing.T) {
	pubsubtest.Run(t, factory(realRedisURL(t)), pubsubtest.Features{Nodes: 3, NativeValues: true})
}

// TestAdapterContractRealRedis checks the contract on the Redis at PHXGO_REDIS_URL; each node's client
// is named, so that Disrupt can CLIENT KILL exactly its subscription.
func TestAdapterContractRealRedis(t *testing.T) {
	url := realRedisURL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(opt)
	t.Cleanup(func() { admin.Close() })
	var clientNames sync.Map // pubsub.Adapter → the CLIENT SETNAME of its connections
	var seq atomic.Int64
	pubsubtest.RunAdapter(t, func(t testing.TB, n int, name string) []pubsub.Adapter {
		adapters := make([]pubsub.Adapter, n)
		for i := range adapters {
			o := *opt
			o.ClientName = fmt.Sprintf("phoenixadapter-test-%d-%d", time.Now().UnixNano(), seq.Add(1))
			o.MaxRetries = -1
			client := redis.NewClient(&o)
			t.Cleanup(func() { client.Close() }) // after the suite has closed the adapter
			a, err := phoenixadapter.New(phoenixadapter.Config{Client: client, NodeName: "node" + strconv.Itoa(i) + "@test"})
			if err != nil {
				for _, a := range adapters[:i] {
					a.Close()
				}
				t.Fatal(err)
			}
			clientNames.Store(pubsub.Adapter(a), o.ClientName)
			adapters[i] = a
		}
		return adapters
	}, pubsubtest.AdapterFeatures{
		Nodes:               3,
		DirectWithoutOrigin: true,
		Disrupt: func(t testing.TB, a pubsub.Adapter) {
			v, _ := clientNames.Load(a)
			killPubSubConn(t, admin, v.(string))
		},
	})
}
