package localadapter_test

import (
	"testing"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/localadapter"
	"github.com/phxgo/pubsub/pubsubtest"
)

// TestAdapterContract checks the local adapter against pubsub.Adapter's contract: with one node and
// pubsub.LocalOnly, only the checks of Start and Close apply.
func TestAdapterContract(t *testing.T) {
	pubsubtest.RunAdapter(t, func(t testing.TB, n int, name string) []pubsub.Adapter {
		adapters := make([]pubsub.Adapter, n)
		for i := range adapters {
			adapters[i] = localadapter.New("local")
		}
		return adapters
	}, pubsubtest.AdapterFeatures{Nodes: 1})
}
