package pubsubtest_test

import (
	"fmt"
	"testing"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
)

// hubAdapterFactory returns an AdapterFactory that makes each cluster's adapters on a new hub with the
// given fault, carrying frames or (carrier) messages.
func hubAdapterFactory(fault hubFault, carrier bool) pubsubtest.AdapterFactory {
	return func(t testing.TB, n int, _ string) []pubsub.Adapter {
		h := newHub(fault)
		h.carrier = carrier
		adapters := make([]pubsub.Adapter, n)
		for i := range adapters {
			adapters[i] = h.node(fmt.Sprintf("hub%d", i))
		}
		return adapters
	}
}

// disruptHub is AdapterFeatures.Disrupt for hub nodes.
func disruptHub(_ testing.TB, a pubsub.Adapter) { a.(*hubNode).disrupt() }

// TestHubAdapter runs the adapter checks on the in-memory hub.
func TestHubAdapter(t *testing.T) {
	pubsubtest.RunAdapter(t, hubAdapterFactory(faultNone, false), pubsubtest.AdapterFeatures{Nodes: 3, Disrupt: disruptHub})
}

// TestHubCarrierAdapter runs the adapter checks on the hub carrying messages (pubsub.MessageCarrier).
func TestHubCarrierAdapter(t *testing.T) {
	pubsubtest.RunAdapter(t, hubAdapterFactory(faultNone, true), pubsubtest.AdapterFeatures{Nodes: 3, Disrupt: disruptHub})
}
