package phoenixadapter_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"

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
