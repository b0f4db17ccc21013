package redisadapter_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/tracker"
)

// The tracker works over routed nodes: its gossip topics (phx_presence:…) ride the broadcast channel
// every node keeps (Config.BroadcastPrefixes), so presences converge, on one Redis and, sharded, on the
// cluster.
func TestRoutedTrackerConverges(t *testing.T) {
	nodes := map[string]func(t *testing.T) []*pubsub.PubSub{
		"miniredis": func(t *testing.T) []*pubsub.PubSub {
			_, url := miniURL(t)
			name := uniqueName(t)
			a, _ := routedNode(t, url, name, "a", time.Second)
			b, _ := routedNode(t, url, name, "b", time.Second)
			return []*pubsub.PubSub{a, b}
		},
		"cluster": func(t *testing.T) []*pubsub.PubSub {
			pss, _ := shardedNodes(t, realCluster(t, false), uniqueName(t), "a", "b")
			return pss
		},
	}
	for kind, start := range nodes {
		t.Run(kind, func(t *testing.T) {
			pss := start(t)
			var trs []*tracker.Tracker
			var owners []*pubsub.Subscriber
			for _, ps := range pss {
				tr, err := tracker.New(ps, tracker.TestConfig("presence", nil))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { tr.Close() })
				trs, owners = append(trs, tr), append(owners, newSub(t, ps))
			}
			var all []string
			for i, tr := range trs {
				for k := range 20 {
					key := fmt.Sprintf("%c%02d", 'a'+i, k)
					if _, err := tr.Track(owners[i], "room", key, nil); err != nil {
						t.Fatal(err)
					}
					all = append(all, key)
				}
			}
			list := func(tr *tracker.Tracker) []string {
				var out []string
				for _, p := range tr.List("room") {
					out = append(out, p.Key)
				}
				slices.Sort(out)
				return out
			}
			for _, tr := range trs {
				eventually(t, 10*time.Second, "every presence on both nodes", func() bool { return slices.Equal(list(tr), all) })
			}
			owners[1].Close()
			for _, tr := range trs {
				eventually(t, 5*time.Second, "b's leaves on both nodes", func() bool { return slices.Equal(list(tr), all[:20]) })
			}
		})
	}
}
