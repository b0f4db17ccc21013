package pubsubtest

import (
	"testing"
	"time"

	"github.com/phxgo/pubsub"
)

// AdapterFactory returns n unstarted adapters that share a transport (a Redis server, an in-memory
// hub), so that a frame one sends reaches the others: the nodes of one PubSub called name, which the
// adapters namespace their traffic with as they would a PubSub's Config.Name (the suite's fake hosts
// also return it from Name). Their NodeNames must be distinct. n is at most AdapterFeatures.Nodes.
//
// The suite starts each adapter with Start and a fake pubsub.Host of its own, and closes each, once,
// before the test ends (also those it never started). A factory that fails (t.Fatal) after making some
// adapters closes those first. The factory may be called several times by one test, and concurrently
// by parallel tests; it may register cleanups with t (a server to stop, a client to close), which run
// after the suite has closed the adapters.
type AdapterFactory func(t testing.TB, n int, name string) []pubsub.Adapter

// AdapterFeatures says what the adapter under test can do and how long the suite waits for it. The zero
// value describes a single-node adapter.
type AdapterFeatures struct {
	// Nodes is how many adapters the factory can make for one test: 2 or more enables the checks that
	// send frames between nodes (which use up to 3), 1 (or 0) leaves the checks of Start and Close.
	Nodes int

	// DeliveryTimeout bounds the wait for any one expected frame or gap. Zero means
	// DefaultDeliveryTimeout. Checks that a frame does not arrive wait a quiet period derived from it
	// (DeliveryTimeout/50, between 50 and 100 ms).
	DeliveryTimeout time.Duration

	// CloseTimeout bounds Close (contract sentence 8), and Broadcast and DirectBroadcast after Close.
	// Zero means DefaultCloseTimeout.
	CloseTimeout time.Duration

	// DirectWithoutOrigin says that the transport's direct broadcasts do not name their sender
	// (phoenix_pubsub_redis's frames name only the target): the adapter hands them to HandleMessage
	// with Origin "", which the suite then accepts for direct broadcasts (and only for them).
	DirectWithoutOrigin bool

	// Disrupt, if set, breaks adapter a's connection to the transport the way a network fault would
	// (for Redis: CLIENT KILL of its subscription), and returns; a is one of the adapters of the
	// current test's cluster, started. The suite then expects a's host to see HandleGap within
	// DeliveryTimeout, and frames to flow again both ways. Disrupt must not disturb the clusters of other
	// tests, which may be running in parallel; it may disturb the other adapters of a's cluster. The
	// check is skipped when Disrupt is nil.
	Disrupt func(t testing.TB, a pubsub.Adapter)
}

// DefaultCloseTimeout is the CloseTimeout used when AdapterFeatures.CloseTimeout is zero.
const DefaultCloseTimeout = 5 * time.Second

// RunAdapter checks the adapters that f makes against the Adapter contract of package pubsub, the
// numbered sentences of pubsub.Adapter's documentation, calling them directly with fake hosts: no
// pubsub.PubSub is involved, so a failure names the sentence the adapter broke, quoted, followed by
// what happened (contract 3 ("…"): node 1 received frame 17 of stream 0/b before frame 16).
//
// The checks are subtests of t, named Subject/Check (Start, Broadcast, DirectBroadcast, Bytes, Order,
// Context, Close, Gap; see the package documentation for the list), and run in parallel. Checks that
// send frames between nodes are skipped when feat.Nodes < 2, and every check that sends is skipped for
// an adapter that reports pubsub.LocalOnly (the PubSub never calls its Broadcast). RunAdapter returns
// once every check has finished and every adapter is closed.
//
// Adapters that carry messages (pubsub.MessageCarrier with CarriesMessages true) are called as the
// PubSub calls them, with Frame.Bytes nil and a []byte payload in Frame.Payload, and are expected to
// hand what they receive to HandleMessage with Origin, Target and Topic set (Origin may be "" for a
// direct broadcast with AdapterFeatures.DirectWithoutOrigin), and the payload's bytes as a []byte or a
// string.
func RunAdapter(t *testing.T, f AdapterFactory, feat AdapterFeatures) {
	t.Helper()
	if f == nil {
		t.Fatal("pubsubtest.RunAdapter: nil AdapterFactory")
	}
	s := newAdapterSuite(f, feat)
	for _, c := range adapterChecks {
		t.Run(c.name, func(t *testing.T) {
			switch {
			case c.nodes > s.nodes:
				t.Skipf("needs %d nodes; AdapterFeatures.Nodes is %d", c.nodes, s.nodes)
			case c.disrupts && s.disrupt == nil:
				t.Skip("needs AdapterFeatures.Disrupt")
			}
			t.Parallel()
			c.run(t, s)
		})
	}
}

// adapterCheck is one check of RunAdapter: a subtest that needs at least nodes adapters.
type adapterCheck struct {
	name     string
	nodes    int
	disrupts bool // needs AdapterFeatures.Disrupt
	run      func(t *testing.T, s *adapterSuite)
}

var adapterChecks = []adapterCheck{
	{name: "Start/CarriesFramesBothWays", nodes: 2, run: checkStartCarries},
	{name: "Start/SecondStartFails", nodes: 1, run: checkSecondStart},
	{name: "Start/NodeNameConstant", nodes: 1, run: checkNodeNameConstant},
	{name: "Broadcast/ReachesEveryOtherNodeOnce", nodes: 2, run: checkBroadcastReachesOthers},
	{name: "DirectBroadcast/ReachesOnlyTarget", nodes: 2, run: checkDirectReachesTarget},
	{name: "DirectBroadcast/UnknownNode", nodes: 2, run: checkDirectUnknownNode},
	{name: "Bytes/ValidOnlyUntilReturn", nodes: 2, run: checkBytesUntilReturn},
	{name: "Order/Sequential", nodes: 2, run: checkOrderSequential},
	{name: "Order/ConcurrentSenders", nodes: 2, run: checkOrderConcurrent},
	{name: "Context/Cancelled", nodes: 1, run: checkCancelledContext},
	{name: "Close/Bounded", nodes: 1, run: checkCloseBounded},
	{name: "Close/WithoutStart", nodes: 1, run: checkCloseWithoutStart},
	{name: "Close/StopsDelivery", nodes: 2, run: checkCloseStopsDelivery},
	{name: "Close/SendAfterCloseFails", nodes: 1, run: checkSendAfterClose},
	{name: "Close/OthersKeepWorking", nodes: 3, run: checkCloseOthersKeepWorking},
	{name: "Gap/AfterDisrupt", nodes: 2, disrupts: true, run: checkGapAfterDisrupt},
}

// adapterSuite holds what every check of RunAdapter needs: the factory and the timing derived from
// AdapterFeatures.
type adapterSuite struct {
	factory      AdapterFactory
	nodes        int           // AdapterFeatures.Nodes, at least 1
	timeout      time.Duration // the wait for one expected frame or gap
	closeTimeout time.Duration // the bound on Close, and on a send after Close
	quiet        time.Duration // the wait before concluding that a frame will not arrive
	disrupt      func(t testing.TB, a pubsub.Adapter)
	// directWithoutOrigin is AdapterFeatures.DirectWithoutOrigin.
	directWithoutOrigin bool
}

func newAdapterSuite(f AdapterFactory, feat AdapterFeatures) *adapterSuite {
	s := &adapterSuite{
		factory:      f,
		nodes:        max(feat.Nodes, 1),
		timeout:      feat.DeliveryTimeout,
		closeTimeout: feat.CloseTimeout,
		disrupt:      feat.Disrupt,

		directWithoutOrigin: feat.DirectWithoutOrigin,
	}
	if s.timeout <= 0 {
		s.timeout = DefaultDeliveryTimeout
	}
	if s.closeTimeout <= 0 {
		s.closeTimeout = DefaultCloseTimeout
	}
	s.quiet = min(max(s.timeout/50, 50*time.Millisecond), 100*time.Millisecond)
	return s
}

// size is the number of adapters of the clusters that checks meant for any size start: every node the
// adapter supports, up to maxNodes.
func (s *adapterSuite) size() int { return min(s.nodes, maxNodes) }
