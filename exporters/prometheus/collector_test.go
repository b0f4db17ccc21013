package promexporter_test

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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	promexporter "github.com/phxgo/pubsub/exporters/prometheus"
	"github.com/phxgo/pubsub/fastlane"
	"github.com/phxgo/pubsub/phoenixadapter"
	"github.com/phxgo/pubsub/phoenixpresence"
	"github.com/phxgo/pubsub/presence"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// sample is one scraped value and its type.
type sample struct {
	v     float64
	gauge bool
}

// gather registers c on a pedantic registry (which checks every metric against Describe) and returns
// every sample, keyed by name{label=value,…} with the labels in name order.
func gather(t *testing.T, c prometheus.Collector) map[string]sample {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]sample{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch mf.GetType().String() {
			case "COUNTER":
				out[key] = sample{v: m.GetCounter().GetValue()}
			case "GAUGE":
				out[key] = sample{v: m.GetGauge().GetValue(), gauge: true}
			default:
				t.Errorf("%s is a %s, want a counter or a gauge", key, mf.GetType())
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
	w.counter("phxgo_pubsub_received_total{"+l+"}", s.Received)
	for reason, v := range map[string]uint64{
		"too_large": s.DroppedTooLarge, "malformed": s.DroppedMalformed, "version": s.DroppedVersion,
		"signature": s.DroppedSignature, "stale": s.DroppedStale, "duplicate": s.DroppedDuplicate,
		"misaddressed": s.DroppedMisaddressed, "reserved_topic": s.DroppedReserved,
		"dispatcher": s.DroppedDispatcher, "type": s.DroppedType, "misrouted": s.DroppedMisrouted,
	} {
		w.counter("phxgo_pubsub_dropped_total{"+l+",reason="+reason+"}", v)
	}
	w.counter("phxgo_pubsub_reordered_total{"+l+"}", s.Reordered)
	w.counter("phxgo_pubsub_rebased_total{"+l+"}", s.Rebased)
	w.counter("phxgo_pubsub_gaps_total{"+l+"}", s.Gaps)
	w.counter("phxgo_pubsub_gaps_reported_total{"+l+"}", s.GapsReported)
	w.counter("phxgo_pubsub_duplicate_nodes_total{"+l+"}", s.DuplicateNodes)
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
		w.counter("phxgo_redisadapter_"+name+"_total{"+l+"}", v)
	}
	w.counter("phxgo_redisadapter_dropped_total{"+l+",reason=too_large}", s.DroppedTooLarge)
	w.gauge("phxgo_redisadapter_route_buckets{"+l+"}", r.Buckets)
	w.gauge("phxgo_redisadapter_route_buckets_held{"+l+"}", r.Held)
	w.gauge("phxgo_redisadapter_route_buckets_effective{"+l+"}", r.Effective)
	w.gauge("phxgo_redisadapter_route_buckets_pending{"+l+"}", r.Pending)
}

// phoenixWant names every sample of a.Stats().
func phoenixWant(w *want, ps *pubsub.PubSub, a *phoenixadapter.Adapter) {
	s, l := a.Stats(), "node="+a.NodeName()+",pubsub="+ps.Name()
	for name, v := range map[string]uint64{
		"published": s.Published, "publish_errors": s.PublishErrors, "refused": s.Refused,
		"received": s.Received, "delivered": s.Delivered, "not_for_us": s.NotForUs, "ignored": s.Ignored,
		"undecodable": s.Undecodable, "gaps": s.Gaps,
	} {
		w.counter("phxgo_phoenixadapter_"+name+"_total{"+l+"}", v)
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
		w.counter("phxgo_tracker_dropped_gossip_total{"+l+",reason="+r+",tracker="+name+"}", v)
	}
	for _, r := range gossipDropReasons {
		w.counter("phxgo_tracker_dropped_gossip_total{"+l+",reason="+r+",tracker="+name+"}", s.DroppedGossipByReason[r])
	}
	w.counter("phxgo_tracker_send_errors_total{"+l+",tracker="+name+"}", s.SendErrors)
	w.counter("phxgo_tracker_coalesced_heartbeats_total{"+l+",tracker="+name+"}", s.CoalescedHeartbeats)
	w.counter("phxgo_tracker_coalesced_diffs_total{"+l+",tracker="+name+"}", s.CoalescedDiffs)
	w.counter("phxgo_tracker_stalled_transfers_total{"+l+",tracker="+name+"}", s.StalledTransfers)
}

// presenceWant names every sample of p.Stats().
func presenceWant(w *want, ps *pubsub.PubSub, name string, p *presence.Presence) {
	s, l := p.Stats(), "node="+ps.NodeName()+",pubsub="+ps.Name()+",tracker="+name
	w.counter("phxgo_presence_delivered_total{"+l+"}", s.Delivered)
	w.counter("phxgo_presence_delivery_errors_total{"+l+"}", s.DeliveryErrors)
}

// fastlaneWant names every sample of d.Stats().
func fastlaneWant(w *want, ps *pubsub.PubSub, name string, d *fastlane.Dispatcher) {
	s, l := d.Stats(), "dispatcher="+name+",node="+ps.NodeName()+",pubsub="+ps.Name()
	for n, v := range map[string]uint64{
		"encodes": s.Encodes, "encode_errors": s.EncodeErrors, "writes": s.Writes, "drops": s.Drops,
		"nil_writers": s.NilWriters,
	} {
		w.counter("phxgo_fastlane_"+n+"_total{"+l+"}", v)
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
		w.counter("phxgo_phoenixpresence_"+n+"_total{"+l+"}", v)
	}
	w.gauge("phxgo_phoenixpresence_replicas{"+l+"}", s.Replicas)
	w.gauge("phxgo_phoenixpresence_presences{"+l+"}", s.Presences)
}

// scrape gathers c between two reads of the sources' Stats (by wants) and checks that it holds exactly
// the samples the reads name, each counter between its two reads (counters only grow), each gauge equal
// to both. It returns the samples.
func scrape(t *testing.T, c prometheus.Collector, wants func(*want)) map[string]sample {
	t.Helper()
	var before, after want
	wants(&before)
	got := gather(t, c)
	wants(&after)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := after.counters[k]; !ok {
			if _, ok := after.gauges[k]; !ok {
				t.Errorf("unexpected sample %s", k)
			}
		}
	}
	for k, hi := range after.counters {
		s, ok := got[k]
		switch {
		case !ok:
			t.Errorf("no sample %s", k)
		case s.gauge:
			t.Errorf("%s is a gauge, want a counter", k)
		case s.v < float64(before.counters[k]) || s.v > float64(hi):
			t.Errorf("%s = %v, want %d..%d", k, s.v, before.counters[k], hi)
		}
	}
	for k, v := range after.gauges {
		s, ok := got[k]
		switch {
		case !ok:
			t.Errorf("no sample %s", k)
		case !s.gauge:
			t.Errorf("%s is a counter, want a gauge", k)
		case s.v != float64(v) || before.gauges[k] != v:
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

func TestLint(t *testing.T) {
	ps := newLocal(t, "lint")
	problems, err := testutil.CollectAndLint(promexporter.NewCollector(promexporter.WithPubSub(ps)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
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
	got := scrape(t, promexporter.NewCollector(promexporter.WithPubSub(ps)), func(w *want) { pubsubWant(w, ps) })
	if len(got) != 17 { // received, 11 reasons of drop, reordered, rebased, gaps, gaps reported, duplicate nodes
		t.Errorf("%d samples, want 17: %v", len(got), got)
	}
	for k, s := range got {
		if s.v != 0 {
			t.Errorf("%s = %v, want 0", k, s.v)
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
// the collector exports every counter of each Stats with its labels and value, and nothing else.
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

	c := promexporter.NewCollector(
		promexporter.WithPubSub(psB),
		promexporter.WithRedisAdapter(psB, adB),
		promexporter.WithTracker(psB, "presence", tr),
		promexporter.WithTracker(psB, "rooms", pr.Tracker()),
		promexporter.WithPresence(psB, "rooms", pr),
	)
	got := scrape(t, c, func(w *want) {
		pubsubWant(w, psB)
		redisWant(w, psB, adB)
		trackerWant(w, psB, "presence", tr)
		trackerWant(w, psB, "rooms", pr.Tracker())
		presenceWant(w, psB, "rooms", pr)
	})
	const n = 17 + 15 + 2*(14+4) + 2
	if len(got) != n {
		t.Errorf("%d samples, want %d", len(got), n)
	}
	lb := "node=b,pubsub=chat"
	atLeast1(t, got,
		"phxgo_pubsub_received_total{"+lb+"}",
		"phxgo_pubsub_dropped_total{"+lb+",reason=malformed}",
		"phxgo_pubsub_dropped_total{"+lb+",reason=misrouted}",
		"phxgo_redisadapter_published_total{"+lb+"}",
		"phxgo_redisadapter_received_total{"+lb+"}",
		"phxgo_redisadapter_rejected_total{"+lb+"}",
		"phxgo_redisadapter_route_subscribes_total{"+lb+"}",
		"phxgo_redisadapter_route_unsubscribes_total{"+lb+"}",
		"phxgo_redisadapter_route_buckets{"+lb+"}",
		"phxgo_redisadapter_route_buckets_held{"+lb+"}",
		"phxgo_redisadapter_route_buckets_effective{"+lb+"}",
		"phxgo_tracker_dropped_gossip_total{"+lb+",reason=not_bytes,tracker=presence}",
		"phxgo_presence_delivered_total{"+lb+",tracker=rooms}",
	)

	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// Two Phoenix adapters on a Redis (miniredis): a's broadcast and a frame that is not a term reach b,
// whose adapter counters the collector exports with their labels and values.
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

	got := scrape(t, promexporter.NewCollector(promexporter.WithPhoenixAdapter(psB, adB)), func(w *want) { phoenixWant(w, psB, adB) })
	if len(got) != 9 {
		t.Errorf("%d samples, want 9", len(got))
	}
	lb := "node=b@host,pubsub=Chat.PubSub"
	atLeast1(t, got,
		"phxgo_phoenixadapter_published_total{"+lb+"}",
		"phxgo_phoenixadapter_received_total{"+lb+"}",
		"phxgo_phoenixadapter_delivered_total{"+lb+"}",
		"phxgo_phoenixadapter_not_for_us_total{"+lb+"}",
		"phxgo_phoenixadapter_undecodable_total{"+lb+"}",
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

// Two PubSubs of one process: their samples differ by label, so one registry takes both.
func TestTwoPubSubs(t *testing.T) {
	one, two := newLocal(t, "one"), newLocal(t, "two")
	got := scrape(t, promexporter.NewCollector(promexporter.WithPubSub(one), promexporter.WithPubSub(two)),
		func(w *want) { pubsubWant(w, one); pubsubWant(w, two) })
	if len(got) != 34 {
		t.Errorf("%d samples, want 34", len(got))
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

	got := scrape(t, promexporter.NewCollector(promexporter.WithFastlane(ps, fastlane.Name, fl)),
		func(w *want) { fastlaneWant(w, ps, fastlane.Name, fl) })
	if len(got) != 5 {
		t.Errorf("%d samples, want 5", len(got))
	}
	l := "dispatcher=fastlane,node=n1,pubsub=web"
	atLeast1(t, got,
		"phxgo_fastlane_encodes_total{"+l+"}",
		"phxgo_fastlane_encode_errors_total{"+l+"}",
		"phxgo_fastlane_writes_total{"+l+"}",
		"phxgo_fastlane_drops_total{"+l+"}",
		"phxgo_fastlane_nil_writers_total{"+l+"}",
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

	got := scrape(t, promexporter.NewCollector(promexporter.WithPhoenixPresence(psB, "MyApp.Presence", trB)),
		func(w *want) { phoenixPresenceWant(w, psB, "MyApp.Presence", trB) })
	if len(got) != 9 {
		t.Errorf("%d samples, want 9", len(got))
	}
	l := "node=b@host,pubsub=MyApp.PubSub,tracker=MyApp.Presence"
	atLeast1(t, got,
		"phxgo_phoenixpresence_heartbeats_total{"+l+"}",
		"phxgo_phoenixpresence_received_total{"+l+"}",
		"phxgo_phoenixpresence_dropped_gossip_total{"+l+"}",
		"phxgo_phoenixpresence_replicas{"+l+"}",
		"phxgo_phoenixpresence_presences{"+l+"}",
	)
}
