package pubsubtest

import (
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

// Factory starts a cluster of n nodes for one test: n PubSubs that share whatever the adapter shares
// (a Redis server, an in-memory hub), so that a broadcast on one reaches the others. Each PubSub is made
// with cfg, which the suite fills in (Name, unique per test; Dispatchers; OnSlowConsumer); the factory
// sets Adapter (and whatever else its adapter needs, such as NodeName without one) and must give the n
// PubSubs distinct node names. n is at most Features.Nodes.
//
// The suite closes every PubSub the factory returns when the test ends, and reports a Close that does
// not return within Features.DeliveryTimeout (a deadlock) instead of hanging. A factory that fails
// (t.Fatal) after starting some nodes closes those before it fails; it should not close the nodes it
// returns itself (with t.Cleanup, say), as that would hang on a deadlocked PubSub. The factory may be
// called several times by one test, and concurrently by parallel tests.
//
// The suite assumes a healthy transport (no frame is lost while it runs) and that a cluster is ready
// for everything once it has carried one broadcast and one direct broadcast between every pair of
// nodes: before its first assertion on a cluster of more than one node, the suite sends such sentinels
// (on a topic of their own) until each has arrived, bounded by Features.DeliveryTimeout. From then on,
// a subscription made on any node must be effective for every broadcast made after Subscribe returns,
// or, with an adapter that routes by topic (pubsub.TopicRouter), after SubscribeContext returns: the
// checks subscribe with SubscribeContext.
type Factory func(t testing.TB, n int, cfg pubsub.Config) []*pubsub.PubSub

// Features says what the adapter under test can do. The zero value describes a single-node adapter.
type Features struct {
	// Nodes is how many nodes the adapter can run in one test: 1 (or 0) for an adapter without other
	// nodes, such as localadapter; 2 or more enables the cross-node checks, which use up to 3 nodes.
	Nodes int

	// DeliveryTimeout bounds the wait for any one expected delivery, local or remote; a message
	// missing after it fails the check. Zero means 5 s. Checks that a message does not arrive wait a
	// quiet period derived from it (20 ms on one node; DeliveryTimeout/50, between 50 and 100 ms, with
	// other nodes).
	DeliveryTimeout time.Duration

	// NativeValues says that the transport carries values in a format of its own (phoenixadapter:
	// Elixir terms) rather than the PubSub's: a []byte may arrive on another node as a string of the
	// same bytes, and an unregistered value that is not a struct (an int) as the transport's value
	// rather than a pubsub.Encoded; either must still Decode into the type broadcast.
	NativeValues bool
}

// DefaultDeliveryTimeout is the DeliveryTimeout used when Features.DeliveryTimeout is zero.
const DefaultDeliveryTimeout = 5 * time.Second

// maxNodes is the size of the clusters the cross-node checks start.
const maxNodes = 3

// Run checks the adapter that f builds against Phoenix.PubSub's semantics as this module defines them
// (see the package documentation for the list). The checks are subtests of t, grouped by subject:
// Subscribe, Errors, Broadcast, Dispatch, Payload, Ordering, Overflow, Concurrency and CrossNode. The
// checks of a group run in parallel, the groups one after another; cross-node checks are skipped when
// feat.Nodes < 2. Run returns once every check has finished, so the caller may release what the
// factory uses (a server, a listener) when Run returns.
func Run(t *testing.T, f Factory, feat Features) {
	t.Helper()
	if f == nil {
		t.Fatal("pubsubtest.Run: nil Factory")
	}
	s := newSuite(f, feat)
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.checks {
				t.Run(c.name, func(t *testing.T) {
					if c.nodes > s.nodes {
						t.Skipf("needs %d nodes; Features.Nodes is %d", c.nodes, s.nodes)
					}
					t.Parallel()
					c.run(t, s)
				})
			}
		})
	}
}

// check is one conformance check: a subtest that needs a cluster of at least nodes nodes.
type check struct {
	name  string
	nodes int
	run   func(t *testing.T, s *suite)
}

// group is a set of checks about one subject, run as one subtest.
type group struct {
	name   string
	checks []check
}

var groups = []group{
	{"Subscribe", subscribeChecks},
	{"Errors", errorChecks},
	{"Broadcast", broadcastChecks},
	{"Dispatch", dispatchChecks},
	{"Payload", payloadChecks},
	{"Ordering", orderingChecks},
	{"Overflow", overflowChecks},
	{"Concurrency", concurrencyChecks},
	{"CrossNode", crossNodeChecks},
}

// suite holds what every check needs: the factory and the timing derived from Features.
type suite struct {
	factory Factory
	nodes   int           // Features.Nodes, at least 1
	timeout time.Duration // the wait for one expected delivery
	quiet   time.Duration // the wait before concluding that a message will not arrive
	// nativeValues is Features.NativeValues.
	nativeValues bool
}

func newSuite(f Factory, feat Features) *suite {
	s := &suite{factory: f, nodes: max(feat.Nodes, 1), timeout: feat.DeliveryTimeout, nativeValues: feat.NativeValues}
	if s.timeout <= 0 {
		s.timeout = DefaultDeliveryTimeout
	}
	s.quiet = 20 * time.Millisecond
	if s.nodes > 1 {
		s.quiet = min(max(s.timeout/50, 50*time.Millisecond), 100*time.Millisecond)
	}
	return s
}

// clusterSize is the number of nodes of the clusters that checks meant for any size start: every node
// the adapter supports, up to maxNodes.
func (s *suite) clusterSize() int { return min(s.nodes, maxNodes) }
