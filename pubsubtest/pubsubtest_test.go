package pubsubtest_test

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNoAdapter runs the suite on PubSubs without an adapter (Config.Adapter nil): the default.
func TestNoAdapter(t *testing.T) {
	pubsubtest.Run(t, func(t testing.TB, n int, cfg pubsub.Config) []*pubsub.PubSub {
		nodes := make([]*pubsub.PubSub, n)
		for i := range nodes {
			cfg.NodeName = fmt.Sprintf("node%d", i)
			ps, err := pubsub.New(context.Background(), cfg)
			if err != nil {
				closeAll(nodes[:i])
				t.Fatalf("New: %v", err)
			}
			nodes[i] = ps
		}
		return nodes
	}, pubsubtest.Features{Nodes: 1})
}

// closeAll closes the nodes a factory started before it failed (the suite closes those it returns).
func closeAll(nodes []*pubsub.PubSub) {
	for _, ps := range nodes {
		ps.Close()
	}
}
