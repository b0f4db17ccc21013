package otelexporter_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/phxgo/pubsub"
	otelexporter "github.com/phxgo/pubsub/exporters/otel"
	"github.com/phxgo/pubsub/fastlane"
	"github.com/phxgo/pubsub/phoenixadapter"
	"github.com/phxgo/pubsub/phoenixpresence"
	"github.com/phxgo/pubsub/presence"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// sample is one collected data point and its instrument's kind.
type sample struct {
	v     int64
	gauge bool
}

// collect registers the sources on a fresh SDK MeterProvider with a ManualReader, collects once, and
// returns every data point keyed by name{attributes}; every metric must be a cumulative monotonic sum
// or a gauge, with a unit and a description.
func collect(t *testing.T, opts ...otelexporter.Option) map[string]sample {
	t.Helper()
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)
	reg, err := otelexporter.Register(provider.Meter("test"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]sample{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Unit == "" || m.Description == "" {
				t.Errorf("%s: unit %q, description %q", m.Name, m.Unit, m.Description)
			}
			var points []metricdata.DataPoint[int64]
			gauge := false
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
					t.Errorf("%s: monotonic %v, %v; want a cumulative monotonic sum", m.Name, d.IsMonotonic, d.Temporality)
				}
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points, gauge = d.DataPoints, true
			default:
				t.Errorf("%s: %T, want a Sum[int64] or a Gauge[int64]", m.Name, m.Data)
			}
			for _, p := range points {
				out[m.Name+"{"+p.Attributes.Encoded(attribute.DefaultEncoder())+"}"] = sample{p.Value, gauge}
			}
		}
	}
	return out
}

// want is what a scrape must hold: each counter's key and the value of its Stats field, read before or
// after the scrape; gauges must be steady when the test scrapes them.
type want struct {
	counters map[string]uint64
	gauges   map[string]int
}

func (w *want) counter(key string, v uint64) {
	if w.counters == nil {
		w.counters = map[string]uint64{}
	}
	w.counters[key] = v
}

func (w *want) gauge(key string, v int) {
	if w.gauges == nil {
		w.gauges = map[string]int{}
	}
	w.gauges[key] = v
}

// pubsubWant names every sample of ps.Stats(), field by field.
func pubsubWant(w *want, ps *pubsub.PubSub) {
	s, l := ps.Stats(), "node="+ps.NodeName()+",pubsub="+ps.Name()
	w.counter("phxgo.pubsub.received{"+l+"}", s.Received)
	for reason, v := range map[string]uint64{
		"too_large": s.DroppedTooLarge, "malformed": s.DroppedMalformed, "version": s.DroppedVersion,
		"signature": s.DroppedSignature, "stale": s.DroppedStale, "duplicate": s.DroppedDuplicate,
		"misaddressed": s.DroppedMisaddressed, "reserved_topic": s.DroppedReserved,
		"dispatcher": s.DroppedDispatcher, "type": s.DroppedType, "misrouted": s.DroppedMisrouted,
	} {
		w.counter("phxgo.pubsub.dropped{"+l+",reason="+reason+"}", v)
	}
	w.counter("phxgo.pubsub.reordered{"+l+"}", s.Reordered)
	w.counter("phxgo.pubsub.rebased{"+l+"}", s.Rebased)
	w.counter("phxgo.pubsub.gaps{"+l+"}", s.Gaps)
	w.counter("phxgo.pubsub.gaps_reported{"+l+"}", s.GapsReported)
	w.counter("phxgo.pubsub.duplicate_nodes{"+l+"}", s.DuplicateNodes)
}

// redisWant names every sample of a.Stats() and a.Routing().
func redisWant(w *want, ps *pubsub.PubSub, a *redisadapter.Adapter) {
	s, r, l := a.Stats(), a.Routing(), "node="+a.NodeName()+",pubsub="+ps.Name()
	for name, v := range map[string]uint64{
		"published": s.Published, "publish_errors": s.PublishErrors, "received": s.Received,
		"rejected": s.Rejected, "reconnects": s.Reconnects, "probe_failures": s.ProbeFailures,
		"duplicate_nodes": s.DuplicateNodes, "route_subscribes": s.RouteSubscribes,
		"route_unsubscribes": s.RouteUnsubscribes, "route_unexpected": s.RouteUnexpected,
	} {
		w.counter("phxgo.redisadapter."+name+"{"+l+"}", v)
	}
	w.counter("phxgo.redisadapter.dropped{"+l+",reason=too_large}", s.DroppedTooLarge)
	w.gauge("phxgo.redisadapter.route_buckets{"+l+"}", r.Buckets)
	w.gauge("phxgo.redisadapter.route_buckets_held{"+l+"}", r.Held)
	w.gauge("phxgo.redisadapter.route_buckets_effective{"+l+"}", r.Effective)
	w.gauge("phxgo.redisadapter.route_buckets_pending{"+l+"}", r.Pending)
}

// phoenixWant names every sample of a.Stats().
func phoenixWant(w *want, ps *pubsub.PubSub, a *phoenixadapter.Adapter) {
	s, l := a.Stats(), "node="+a.NodeName()+",pubsub="+ps.Name()
	for name, v := range map[string]uint64{
		"published": s.Published, "publish_errors": s.PublishErrors, "refused": s.Refused,
		"received": s.Received, "delivered": s.Delivered, "not_for_us": s.NotForUs, "ignored": s.Ignored,
		"undecodable": s.Undecodable, "gaps": s.Gaps,
	} {
		w.counter("phxgo.phoenixadapter."+name+"{"+l+"}", v)
	}
}

// gossipDropReasons are the reasons docs/tracker.md lists (TestGossipDropReasonsAreDocumented).
var gossipDropReasons = []string{
	"not_bytes", "malformed", "own_name", "permdowned", "unasked_transfer", "foreign_delta",
	"too_many_replicas", "too_many_clocks", "unknown_requester", "request_rate", "bad_chunk",
	"orphan_chunk", "too_large", "unseen_remove",
}

// trackerWant names every sample of t.Stats(): each listed reason, and any other the tracker counted.
func trackerWant(w *want, ps *pubsub.PubSub, name string, t *tracker.Tracker) {
	s, l := t.Stats(), "node="+ps.NodeName()+",pubsub="+ps.Name()
	for r, v := range s.DroppedGossipByReason {
		w.counter("phxgo.tracker.dropped_gossip{"+l+",reason="+r+",tracker="+name+"}", v)
	}
	for _, r := range gossipDropReasons {
		w.counter("phxgo.tracker.dropped_gossip{"+l+",reason="+r+",tracker="+name+"}", s.DroppedGossipByReason[r])
	}
	w.counter("phxgo.tracker.send_errors{"+l+",tracker="+name+"}", s.SendErrors)
	w.counter("phxgo.tracker.coalesced_heartbeats{"+l+",tracker="+name+"}", s.CoalescedHeartbeats)
	w.counter("phxgo.tracker.coalesced_diffs{"+l+",tracker="+name+"}", s.CoalescedDiffs)
	w.counter("phxgo.tracker.stalled_transfers{"+l+",tracker="+name+"}", s.StalledTransfers)
}

// presenceWant names every sample of p.Stats().
func presenceWant(w *want, ps *pubsub.PubSub, name string, p *presence.Presence) {
	s, l := p.Stats(), "node="+ps.NodeName()+",pubsub="+ps.Name()+",tracker="+name
	w.counter("phxgo.presence.delivered{"+l+"}", s.Delivered)
	w.counter("phxgo.presence.delivery_errors{"+l+"}", s.DeliveryErrors)
}

// fastlaneWant names every sample of d.Stats().
func fastlaneWant(w *want, ps *pubsub.PubSub, name string, d *fastlane.Dispatcher) {
	s, l := d.Stats(), "dispatcher="+name+",node="+ps.NodeName()+",pubsub="+ps.Name()
	for n, v := range map[string]uint64{
		"encodes": s.Encodes, "encode_errors": s.EncodeErrors, "writes": s.Writes, "drops": s.Drops,
		"nil_writers": s.NilWriters,
	} {
		w.counter("phxgo.fastlane."+n+"{"+l+"}", v)
	}
}

// phoenixPresenceWant names every sample of t.Stats().
func phoenixPresenceWant(w *want, ps *pubsub.PubSub, name string, t *phoenixpresence.Tracker) {
	s, l := t.Stats(), "node="+t.NodeName()+",pubsub="+ps.Name()+",tracker="+name
	for n, v := range map[string]uint64{
		"heartbeats": s.Heartbeats, "transfers_sent": s.TransfersSent, "transfers_served": s.TransfersServed,
		"received": s.Received, "dropped_gossip": s.DroppedGossip, "send_errors": s.SendErrors,
		"dropped_diffs": s.DroppedDiffs,
	} {
		w.counter("phxgo.phoenixpresence."+n+"{"+l+"}", v)
	}
	w.gauge("phxgo.phoenixpresence.replicas{"+l+"}", s.Replicas)
	w.gauge("phxgo.phoenixpresence.presences{"+l+"}", s.Presences)
}

// scrape collects the sources between two reads of their Stats (by wants) and checks that the
// collection holds exactly the points the reads name, each counter between its two reads (counters only
// grow), each gauge equal to both. It returns the points.
func scrape(t *testing.T, wants func(*want), opts ...otelexporter.Option) map[string]sample {
	t.Helper()
	var before, after want
	wants(&before)
	got := collect(t, opts...)
	wants(&after)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := after.counters[k]; !ok {
			if _, ok := after.gauges[k]; !ok {
				t.Errorf("unexpected point %s", k)
			}
		}
	}
	for k, hi := range after.counters {
		s, ok := got[k]
		switch {
		case !ok:
			t.Errorf("no point %s", k)
		case s.gauge:
			t.Errorf("%s is a gauge, want a counter", k)
		case s.v < int64(before.counters[k]) || s.v > int64(hi):
			t.Errorf("%s = %v, want %d..%d", k, s.v, before.counters[k], hi)
		}
	}
	for k, v := range after.gauges {
		s, ok := got[k]
		switch {
		case !ok:
			t.Errorf("no point %s", k)
		case !s.gauge:
			t.Errorf("%s is a counter, want a gauge", k)
		case s.v != int64(v) || before.gauges[k] != v:
			t.Errorf("%s = %v, want %d (read before: %d)", k, s.v, v, before.gauges[k])
		}
	}
	return got
}

// atLeast1 checks that the samples named hold at least 1: the test made them count.
func atLeast1(t *testing.T, got map[string]sample, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if got[k].v < 1 {
			t.Errorf("%s = %v, want at least 1", k, got[k].v)
		}
	}
}

func newLocal(t *testing.T, name string) *pubsub.PubSub {
	t.Helper()
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

// On the local adapter: every pubsub counter, zero, with its labels; nothing else.
func TestLocalPubSub(t *testing.T) {
	ps := newLocal(t, "local")
	sub, err := ps.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe("t"); err != nil {
		t.Fatal(err)
	}
	if err := ps.Broadcast(context.Background(), "t", "hello"); err != nil {
		t.Fatal(err)
	}
	got := scrape(t, func(w *want) { pubsubWant(w, ps) }, otelexporter.WithPubSub(ps))
	if len(got) != 17 { // received, 11 reasons of drop, reordered, rebased, gaps, gaps reported, duplicate nodes
		t.Errorf("%d points, want 17: %v", len(got), got)
	}
	for k, s := range got {
		if s.v != 0 {
			t.Errorf("%s = %v, want 0", k, s.v)
		}
	}
}

func TestUnregister(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)
	reg, err := otelexporter.Register(provider.Meter("test"), otelexporter.WithPubSub(newLocal(t, "u")))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var n int
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				n = len(d.DataPoints)
			case metricdata.Gauge[int64]:
				n = len(d.DataPoints)
			default:
				t.Errorf("%s: %T", m.Name, m.Data)
			}
			if n != 0 {
				t.Errorf("%s: %d points after Unregister", m.Name, n)
			}
		}
	}
}

func startRedisNode(t *testing.T, url, name, node string) (*pubsub.PubSub, *redisadapter.Adapter) {
	t.Helper()
	a, err := redisadapter.New(redisadapter.Config{URL: url, NodeName: node, RouteByTopic: true, RouteLinger: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps, a
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Two routed nodes on a Redis (miniredis). b's PubSub, adapter, tracker and presence count a message, a
// malformed frame, a misrouted frame, a bucket subscribed and one left, bad gossip and a presence diff;
// the exporter observes every counter of each Stats with its labels and value, and nothing else.
func TestRedisAdapterTrackerPresence(t *testing.T) {
	srv := miniredis.RunT(t)
	url := "redis://" + srv.Addr() + "/0"
	psA, adA := startRedisNode(t, url, "chat", "a")
	psB, adB := startRedisNode(t, url, "chat", "b")
	tr, err := tracker.New(psB, tracker.Config{Name: "presence"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	pr, err := presence.New(psB, presence.Config{Tracker: tracker.Config{Name: "rooms"}})
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()

	sub, err := psB.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sub.SubscribeContext(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	other := "" // a topic of another bucket than room's
	for i := 0; other == ""; i++ {
		if topic := fmt.Sprint("x", i); adB.Route(topic) != adB.Route("room") {
			other = topic
		}
	}
	// A bucket subscribed, then left after RouteLinger.
	if err := sub.SubscribeContext(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := sub.Unsubscribe(other); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a bucket left", func() bool { return adB.Stats().RouteUnsubscribes >= 1 })

	if err := psA.Broadcast(ctx, "room", "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := psB.Broadcast(ctx, "elsewhere", "from b"); err != nil { // for b's Published
		t.Fatal(err)
	}
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer raw.Close()
	if err := raw.Publish(ctx, "phx:{chat}:broadcast", "not a frame").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the malformed frame's drop", func() bool { return psB.Stats().DroppedMalformed == 1 })

	// A frame of other's bucket, published again on room's.
	capture := raw.Subscribe(ctx, adA.TopicChannel(other))
	defer capture.Close()
	if _, err := capture.Receive(ctx); err != nil { // the confirmation
		t.Fatal(err)
	}
	if err := psA.Broadcast(ctx, other, "stray"); err != nil {
		t.Fatal(err)
	}
	frame, err := capture.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Publish(ctx, adB.TopicChannel("room"), frame.Payload).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the misrouted frame's drop", func() bool { return psB.Stats().DroppedMisrouted == 1 })

	// Gossip that is not bytes, and a presence diff.
	if err := psA.Broadcast(ctx, "phx_presence:presence_shard0", "not gossip"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bad gossip's drop", func() bool { return tr.Stats().DroppedGossipByReason["not_bytes"] == 1 })
	if _, err := pr.Track(sub, "lobby", "alice", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the presence diff", func() bool { return pr.Stats().Delivered >= 1 })
	eventually(t, "steady buckets", func() bool {
		r := adB.Routing()
		return r.Held == 1 && r.Effective == 1 && r.Pending == 0
	})

	got := scrape(t, func(w *want) {
		pubsubWant(w, psB)
		redisWant(w, psB, adB)
		trackerWant(w, psB, "presence", tr)
		trackerWant(w, psB, "rooms", pr.Tracker())
		presenceWant(w, psB, "rooms", pr)
	},
		otelexporter.WithPubSub(psB),
		otelexporter.WithRedisAdapter(psB, adB),
		otelexporter.WithTracker(psB, "presence", tr),
		otelexporter.WithTracker(psB, "rooms", pr.Tracker()),
		otelexporter.WithPresence(psB, "rooms", pr),
	)
	const n = 17 + 15 + 2*(14+4) + 2
	if len(got) != n {
		t.Errorf("%d points, want %d", len(got), n)
	}
	lb := "node=b,pubsub=chat"
	atLeast1(t, got,
		"phxgo.pubsub.received{"+lb+"}",
		"phxgo.pubsub.dropped{"+lb+",reason=malformed}",
		"phxgo.pubsub.dropped{"+lb+",reason=misrouted}",
		"phxgo.redisadapter.published{"+lb+"}",
		"phxgo.redisadapter.received{"+lb+"}",
		"phxgo.redisadapter.rejected{"+lb+"}",
		"phxgo.redisadapter.route_subscribes{"+lb+"}",
		"phxgo.redisadapter.route_unsubscribes{"+lb+"}",
		"phxgo.redisadapter.route_buckets{"+lb+"}",
		"phxgo.redisadapter.route_buckets_held{"+lb+"}",
		"phxgo.redisadapter.route_buckets_effective{"+lb+"}",
		"phxgo.tracker.dropped_gossip{"+lb+",reason=not_bytes,tracker=presence}",
		"phxgo.presence.delivered{"+lb+",tracker=rooms}",
	)
}

// Two Phoenix adapters on a Redis (miniredis): a's broadcast and a frame that is not a term reach b,
// whose adapter counters are observed with their labels and values.
func TestPhoenixAdapter(t *testing.T) {
	srv := miniredis.RunT(t)
	url := "redis://" + srv.Addr() + "/0"
	start := func(node string) (*pubsub.PubSub, *phoenixadapter.Adapter) {
		a, err := phoenixadapter.New(phoenixadapter.Config{URL: url, NodeName: node})
		if err != nil {
			t.Fatal(err)
		}
		ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "Chat.PubSub", Adapter: a})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ps.Close() })
		return ps, a
	}
	psA, _ := start("a@host")
	psB, adB := start("b@host")
	sub, err := psB.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe("room"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := psA.Broadcast(ctx, "room", "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := psB.Broadcast(ctx, "elsewhere", "from b"); err != nil {
		t.Fatal(err)
	}
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer raw.Close()
	if err := raw.Publish(ctx, phoenixadapter.ChannelName("Chat.PubSub"), "not a term").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the undecodable frame", func() bool { return adB.Stats().Undecodable == 1 })
	eventually(t, "b's own frame skipped", func() bool { return adB.Stats().NotForUs >= 1 })

	got := scrape(t, func(w *want) { phoenixWant(w, psB, adB) }, otelexporter.WithPhoenixAdapter(psB, adB))
	if len(got) != 9 {
		t.Errorf("%d points, want 9", len(got))
	}
	lb := "node=b@host,pubsub=Chat.PubSub"
	atLeast1(t, got,
		"phxgo.phoenixadapter.published{"+lb+"}",
		"phxgo.phoenixadapter.received{"+lb+"}",
		"phxgo.phoenixadapter.delivered{"+lb+"}",
		"phxgo.phoenixadapter.not_for_us{"+lb+"}",
		"phxgo.phoenixadapter.undecodable{"+lb+"}",
	)
}

// A reason the tracker does not have yet in this list would be exported only from its first drop:
// the list must be the table of docs/tracker.md.
func TestGossipDropReasonsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/tracker.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "| reason | what |\n|---|---|\n")
	if !ok {
		t.Fatal("docs/tracker.md: no table of reasons")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	var documented []string
	for _, row := range strings.Split(table, "\n") {
		first, _, _ := strings.Cut(strings.TrimPrefix(row, "| "), " |")
		for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(first, -1) {
			documented = append(documented, m[1])
		}
	}
	listed := slices.Clone(gossipDropReasons)
	slices.Sort(listed)
	slices.Sort(documented)
	if !slices.Equal(listed, documented) {
		t.Errorf("docs/tracker.md lists %v, the exporter %v", documented, listed)
	}
}

// Two PubSubs of one process: their points differ by attributes.
func TestTwoPubSubs(t *testing.T) {
	one, two := newLocal(t, "one"), newLocal(t, "two")
	got := scrape(t, func(w *want) { pubsubWant(w, one); pubsubWant(w, two) },
		otelexporter.WithPubSub(one), otelexporter.WithPubSub(two))
	if len(got) != 34 {
		t.Errorf("%d points, want 34", len(got))
	}
}

// A fastlane dispatcher's counters: a broadcast written to one connection, dropped by a full one, and a
// fastlane entry without a writer; a payload the encoder refuses.
func TestFastlane(t *testing.T) {
	fl := &fastlane.Dispatcher{}
	ps, err := pubsub.New(context.Background(), pubsub.Config{
		Name: "web", NodeName: "n1", Dispatchers: map[string]pubsub.Dispatcher{fastlane.Name: fl},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	open, full := fastlane.NewChanWriter(8), fastlane.NewChanWriter(1)
	full.WriteFrame([]byte("x")) // its queue is full from the start
	for _, opt := range []pubsub.SubscribeOption{fastlane.WithWriter(open), fastlane.WithWriter(full), fastlane.WithWriter(nil)} {
		sub, err := ps.NewSubscriber()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Close() })
		if err := sub.Subscribe("room", opt); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := ps.Broadcast(ctx, "room", "hello", pubsub.WithDispatcher(fastlane.Name)); err != nil {
		t.Fatal(err)
	}
	_ = ps.Broadcast(ctx, "room", func() {}, pubsub.WithDispatcher(fastlane.Name)) // JSON cannot encode a func

	got := scrape(t, func(w *want) { fastlaneWant(w, ps, fastlane.Name, fl) }, otelexporter.WithFastlane(ps, fastlane.Name, fl))
	if len(got) != 5 {
		t.Errorf("%d points, want 5", len(got))
	}
	l := "dispatcher=fastlane,node=n1,pubsub=web"
	atLeast1(t, got,
		"phxgo.fastlane.encodes{"+l+"}",
		"phxgo.fastlane.encode_errors{"+l+"}",
		"phxgo.fastlane.writes{"+l+"}",
		"phxgo.fastlane.drops{"+l+"}",
		"phxgo.fastlane.nil_writers{"+l+"}",
	)
}

// Two Go replicas of a Phoenix Presence on a Redis (miniredis): b counts heartbeats, gossip received
// and dropped (a frame on its gossip topic that is no tracker message), and holds a's presence.
func TestPhoenixPresence(t *testing.T) {
	srv := miniredis.RunT(t)
	url := "redis://" + srv.Addr() + "/0"
	start := func(node string) (*pubsub.PubSub, *phoenixpresence.Tracker) {
		a, err := phoenixadapter.New(phoenixadapter.Config{URL: url, PubSubName: "MyApp.PubSub", NodeName: node})
		if err != nil {
			t.Fatal(err)
		}
		ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "MyApp.PubSub", Adapter: a})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ps.Close() })
		tr, err := phoenixpresence.New(ps, a, phoenixpresence.Config{Name: "MyApp.Presence", BroadcastPeriod: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return ps, tr
	}
	psA, trA := start("a@host")
	psB, trB := start("b@host")
	owner, err := psA.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if _, err := trA.Track(owner, "room", "alice", map[string]any{"status": "on"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b lists alice", func() bool { return len(trB.List("room")) == 1 })
	if err := psA.Broadcast(context.Background(), "phx_presence:Elixir.MyApp.Presence_shard0", "not gossip"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b drops the bad gossip", func() bool { return trB.Stats().DroppedGossip >= 1 })

	got := scrape(t, func(w *want) { phoenixPresenceWant(w, psB, "MyApp.Presence", trB) },
		otelexporter.WithPhoenixPresence(psB, "MyApp.Presence", trB))
	if len(got) != 9 {
		t.Errorf("%d points, want 9", len(got))
	}
	l := "node=b@host,pubsub=MyApp.PubSub,tracker=MyApp.Presence"
	atLeast1(t, got,
		"phxgo.phoenixpresence.heartbeats{"+l+"}",
		"phxgo.phoenixpresence.received{"+l+"}",
		"phxgo.phoenixpresence.dropped_gossip{"+l+"}",
		"phxgo.phoenixpresence.replicas{"+l+"}",
		"phxgo.phoenixpresence.presences{"+l+"}",
	)
}
