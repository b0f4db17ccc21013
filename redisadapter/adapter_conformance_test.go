package redisadapter_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
	"github.com/phxgo/pubsub/redisadapter"
)

// TestAdapterContractMiniredis checks the adapter against pubsub.Adapter's contract
// (pubsubtest.RunAdapter), each cluster on a miniredis of its own. miniredis has no CLIENT KILL, so
// Disrupt restarts the cluster's miniredis: every node of the cluster loses its subscription, and the
// suite expects the disrupted one to report a gap.
func TestAdapterContractMiniredis(t *testing.T) { runContractMiniredis(t, false) }

// TestAdapterContractRoutedMiniredis is TestAdapterContractMiniredis with RouteByTopic: the suite
// declares interest in its topics on every node (pubsub.TopicRouter), and checks order per route.
func TestAdapterContractRoutedMiniredis(t *testing.T) { runContractMiniredis(t, true) }

// TestAdapterContractRealRedis checks the adapter against pubsub.Adapter's contract on the Redis at
// PHXGO_REDIS_URL. Each node gets a client of its own, named, so that Disrupt can CLIENT KILL exactly
// that node's subscription without touching other tests on the server.
func TestAdapterContractRealRedis(t *testing.T) { runContractRealRedis(t, false) }

// TestAdapterContractRoutedRealRedis is TestAdapterContractRealRedis with RouteByTopic.
func TestAdapterContractRoutedRealRedis(t *testing.T) { runContractRealRedis(t, true) }

func runContractMiniredis(t *testing.T, routed bool) {
	var servers sync.Map // pubsub.Adapter → *miniredis.Miniredis
	pubsubtest.RunAdapter(t, func(t testing.TB, n int, name string) []pubsub.Adapter {
		m := miniredis.RunT(t)
		adapters := make([]pubsub.Adapter, n)
		for i := range adapters {
			a, err := redisadapter.New(redisadapter.Config{URL: "redis://" + m.Addr() + "/0", NodeName: "node" + strconv.Itoa(i), RouteByTopic: routed})
			if err != nil {
				closeAdapters(adapters[:i])
				t.Fatal(err)
			}
			servers.Store(pubsub.Adapter(a), m)
			adapters[i] = a
		}
		return adapters
	}, pubsubtest.AdapterFeatures{
		Nodes: 3,
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

func runContractRealRedis(t *testing.T, routed bool) {
	url := realRedisURL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	var clientNames sync.Map // pubsub.Adapter → the CLIENT SETNAME of its connections
	var seq atomic.Int64
	admin := plainClient(t, url)
	pubsubtest.RunAdapter(t, func(t testing.TB, n int, name string) []pubsub.Adapter {
		adapters := make([]pubsub.Adapter, n)
		for i := range adapters {
			o := *opt
			o.ClientName = fmt.Sprintf("pubsubtest-%t-%d-%d", routed, time.Now().UnixNano(), seq.Add(1))
			o.MaxRetries = -1 // as the adapter's own clients: PUBLISH is not idempotent
			client := redis.NewClient(&o)
			t.Cleanup(func() { client.Close() }) // after the suite has closed the adapter
			a, err := redisadapter.New(redisadapter.Config{Client: client, NodeName: "node" + strconv.Itoa(i), RouteByTopic: routed})
			if err != nil {
				closeAdapters(adapters[:i])
				t.Fatal(err)
			}
			clientNames.Store(pubsub.Adapter(a), o.ClientName)
			adapters[i] = a
		}
		return adapters
	}, pubsubtest.AdapterFeatures{
		Nodes: 3,
		Disrupt: func(t testing.TB, a pubsub.Adapter) {
			v, _ := clientNames.Load(a)
			if killNamedPubSubConns(t, admin, v.(string)) == 0 {
				t.Fatalf("no subscription connection named %q in CLIENT LIST TYPE pubsub", v)
			}
		},
	})
}

// closeAdapters closes the adapters a factory made before it failed (the suite closes those it returns).
func closeAdapters(adapters []pubsub.Adapter) {
	for _, a := range adapters {
		a.Close()
	}
}

// TestAdapterContractShardedCluster checks the sharded adapter (RouteByTopic on a *redis.ClusterClient)
// against the contract on the real cluster. Disrupt kills, on every master, the node's subscription
// connections (its classic one and its partitions').
func TestAdapterContractShardedCluster(t *testing.T) {
	c := realCluster(t, false)
	var clientNames sync.Map
	var seq atomic.Int64
	pubsubtest.RunAdapter(t, func(t testing.TB, n int, name string) []pubsub.Adapter {
		adapters := make([]pubsub.Adapter, n)
		for i := range adapters {
			clientName := fmt.Sprintf("pubsubtest-sharded-%d-%d", time.Now().UnixNano(), seq.Add(1))
			client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.seeds, MaxRetries: -1, ClientName: clientName})
			t.Cleanup(func() { client.Close() })
			a, err := redisadapter.New(redisadapter.Config{Client: client, NodeName: "node" + strconv.Itoa(i), RouteByTopic: true})
			if err != nil {
				closeAdapters(adapters[:i])
				t.Fatal(err)
			}
			clientNames.Store(pubsub.Adapter(a), clientName)
			adapters[i] = a
		}
		return adapters
	}, pubsubtest.AdapterFeatures{
		Nodes: 3,
		Disrupt: func(t testing.TB, a pubsub.Adapter) {
			v, _ := clientNames.Load(a)
			killed := 0
			for _, n := range c.nodes() {
				if n.master {
					killed += killNamedPubSubConns(t, c.server(n.addr), v.(string))
				}
			}
			if killed == 0 {
				t.Fatalf("no subscription connection named %q on any master", v)
			}
		},
	})
}

// killNamedPubSubConns closes, with CLIENT KILL ID, every subscription connection named clientName on
// the server admin talks to, and returns how many.
func killNamedPubSubConns(t testing.TB, admin *redis.Client, clientName string) int {
	t.Helper()
	list, err := admin.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		t.Fatalf("CLIENT LIST TYPE pubsub: %v", err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		var id string
		named := false
		for _, field := range strings.Fields(line) {
			k, v, _ := strings.Cut(field, "=")
			switch {
			case k == "id":
				id = v
			case k == "name" && v == clientName:
				named = true
			}
		}
		if named {
			if err := admin.ClientKillByFilter(ctx, "ID", id).Err(); err == nil {
				killed++
			}
		}
	}
	return killed
}
