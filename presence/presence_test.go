package presence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/fastlane"
	"github.com/phxgo/pubsub/presence"
	"github.com/phxgo/pubsub/pubsubtest"
	"github.com/phxgo/pubsub/tracker"
)

const lobby = "room:lobby"

// node is one node of a test cluster: a PubSub on a pubsubtest.Cluster, with a Presence on it.
type node struct {
	name string
	ps   *pubsub.PubSub
	p    *presence.Presence
	fl   *fastlane.Dispatcher
}

// startNode starts node name on c with a Presence configured by cfg (its tracker named "presence", with
// tracker.TestConfig's timings unless cfg.Tracker has a name). Both close when the test ends.
func startNode(t *testing.T, c *pubsubtest.Cluster, name string, cfg presence.Config) *node {
	t.Helper()
	n := &node{name: name, fl: &fastlane.Dispatcher{}}
	n.ps = c.Node(t, name, pubsub.Config{
		Name:        "presence-test",
		Dispatchers: map[string]pubsub.Dispatcher{fastlane.Name: n.fl},
	})
	if cfg.Tracker.Name == "" {
		h := cfg.Tracker.Handler
		cfg.Tracker = tracker.TestConfig("presence", h)
	}
	var err error
	if n.p, err = presence.New(n.ps, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.p.Close() })
	return n
}

func (n *node) subscriber(t *testing.T, topic string, opts ...pubsub.SubscribeOption) *pubsub.Subscriber {
	t.Helper()
	s, err := n.ps.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if topic != "" {
		if err := s.Subscribe(topic, opts...); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// settle lets a synctest bubble's changes reach every node: the tracker spaces the eager deltas of a
// burst of changes by a millisecond, so a second change waits for fake time to pass.
func settle() {
	synctest.Wait()
	time.Sleep(10 * time.Millisecond)
	synctest.Wait()
}

// diffs drains the messages pending in s's mailbox, which must all be Diffs.
func diffs(t *testing.T, s *pubsub.Subscriber) []presence.Diff {
	t.Helper()
	var out []presence.Diff
	for {
		select {
		case m := <-s.C():
			d, ok := m.Payload.(presence.Diff)
			if !ok {
				t.Fatalf("message of type %T on %q, want a presence.Diff", m.Payload, m.Topic)
			}
			out = append(out, d)
		default:
			return out
		}
	}
}

// summary writes a diff as "+key@node ... -key@node ...", metas in order, for comparisons.
func summary(d presence.Diff) string {
	var parts []string
	for _, k := range d.Joins.Keys() {
		for _, m := range d.Joins[k].Metas {
			parts = append(parts, fmt.Sprintf("+%s@%v", k, m["node"]))
		}
	}
	for _, k := range d.Leaves.Keys() {
		for _, m := range d.Leaves[k].Metas {
			parts = append(parts, fmt.Sprintf("-%s@%v", k, m["node"]))
		}
	}
	return strings.Join(parts, " ")
}

func summaries(ds []presence.Diff) []string {
	var out []string
	for _, d := range ds {
		out = append(out, summary(d))
	}
	return out
}

// Every subscriber of the topic, on every node, receives each change exactly once, whichever node it
// happened on: the tracker's handler runs on every node, and Presence delivers with LocalBroadcast.
func TestDiffReachesEachSubscriberOncePerChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := pubsubtest.NewCluster()
		var nodes []*node
		var subs [][]*pubsub.Subscriber
		for _, name := range []string{"a", "b", "c"} {
			n := startNode(t, c, name, presence.Config{})
			nodes = append(nodes, n)
			subs = append(subs, []*pubsub.Subscriber{n.subscriber(t, lobby), n.subscriber(t, lobby)})
		}
		other := nodes[1].subscriber(t, "room:other")
		time.Sleep(time.Second) // the nodes hear each other's heartbeats
		settle()

		alice := nodes[0].subscriber(t, "")
		if _, err := nodes[0].p.Track(alice, lobby, "alice", map[string]any{"node": "a"}); err != nil {
			t.Fatal(err)
		}
		bob := nodes[2].subscriber(t, "")
		if _, err := nodes[2].p.Track(bob, lobby, "bob", map[string]any{"node": "c"}); err != nil {
			t.Fatal(err)
		}
		settle()
		time.Sleep(2 * time.Second) // heartbeats and clock samples: nothing more may arrive
		settle()
		for i, ss := range subs {
			for j, s := range ss {
				got := summaries(diffs(t, s))
				slices.Sort(got) // a and c tracked concurrently: their diffs may come in either order
				if want := []string{"+alice@a", "+bob@c"}; !slices.Equal(got, want) {
					t.Errorf("node %s subscriber %d received %q, want %q", nodes[i].name, j, got, want)
				}
			}
		}
		if got := diffs(t, other); len(got) != 0 {
			t.Errorf("a subscriber of another topic received %v", got)
		}

		alice.Close() // alice's connection ends: her presence leaves, on every node
		settle()
		time.Sleep(time.Second)
		settle()
		for i, ss := range subs {
			for j, s := range ss {
				if got, want := summaries(diffs(t, s)), []string{"-alice@a"}; !slices.Equal(got, want) {
					t.Errorf("after alice left, node %s subscriber %d received %q, want %q", nodes[i].name, j, got, want)
				}
			}
		}
		for _, n := range nodes {
			if st := n.p.Stats(); st.Delivered != 3 || st.DeliveryErrors != 0 {
				t.Errorf("node %s: Stats %+v, want 3 delivered, no error", n.name, st)
			}
		}
	})
}

// List groups a topic's presences by key, Phoenix.Presence's shape: a key tracked by two owners (two
// tabs, on two nodes) has two metas, each with its phx_ref. It marshals as {key: {metas: [...]}}.
func TestListGroupsByKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := pubsubtest.NewCluster()
		a := startNode(t, c, "a", presence.Config{})
		b := startNode(t, c, "b", presence.Config{})
		time.Sleep(time.Second)
		refs := map[string]string{}
		track := func(n *node, key string) {
			t.Helper()
			ref, err := n.p.Track(n.subscriber(t, ""), lobby, key, map[string]any{"node": n.name})
			if err != nil {
				t.Fatal(err)
			}
			refs[key+"@"+n.name] = ref
		}
		track(b, "alice")
		track(a, "alice")
		track(a, "bob")
		settle()
		time.Sleep(time.Second)
		settle()

		for _, n := range []*node{a, b} {
			list := n.p.List(lobby)
			if got := list.Keys(); !slices.Equal(got, []string{"alice", "bob"}) {
				t.Fatalf("node %s: List keys %v", n.name, got)
			}
			alice := list["alice"].Metas
			if len(alice) != 2 || alice[0]["node"] != "a" || alice[1]["node"] != "b" {
				t.Fatalf("node %s: alice's metas %v, want node a's then node b's", n.name, alice)
			}
			if alice[0][tracker.MetaRef] != refs["alice@a"] || alice[1][tracker.MetaRef] != refs["alice@b"] {
				t.Fatalf("node %s: alice's metas %v lack their refs %v", n.name, alice, refs)
			}
			want := fmt.Sprintf(`{"alice":{"metas":[{"node":"a","phx_ref":%q},{"node":"b","phx_ref":%q}]},"bob":{"metas":[{"node":"a","phx_ref":%q}]}}`,
				refs["alice@a"], refs["alice@b"], refs["bob@a"])
			if got, err := json.Marshal(list); err != nil || string(got) != want {
				t.Fatalf("node %s: List marshals to %s, %v; want %s", n.name, got, err, want)
			}
			e, ok := n.p.GetByKey(lobby, "bob")
			if !ok || len(e.Metas) != 1 || e.Metas[0][tracker.MetaRef] != refs["bob@a"] {
				t.Fatalf("node %s: GetByKey(bob) = %v, %v", n.name, e, ok)
			}
			if e, ok := n.p.GetByKey(lobby, "carol"); ok || e.Metas != nil {
				t.Fatalf("node %s: GetByKey(carol) = %v, %v; want nothing", n.name, e, ok)
			}
		}
		if got := a.p.List("room:empty"); got == nil || len(got) != 0 {
			t.Fatalf("List of an empty topic = %#v, want an empty Presences", got)
		}
	})
}

// An update is one Diff with the key in both joins (the new meta, whose phx_ref_prev is the old ref) and
// leaves (the old meta), on every node.
func TestUpdateIsOneDiffWithJoinAndLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := pubsubtest.NewCluster()
		a := startNode(t, c, "a", presence.Config{})
		b := startNode(t, c, "b", presence.Config{})
		time.Sleep(time.Second)
		owner := a.subscriber(t, "")
		ref, err := a.p.Track(owner, lobby, "alice", map[string]any{"status": "online"})
		if err != nil {
			t.Fatal(err)
		}
		settle() // the join reached node b before its subscriber subscribes
		sub := b.subscriber(t, lobby)
		ref2, err := a.p.Update(owner, lobby, "alice", map[string]any{"status": "away"})
		if err != nil {
			t.Fatal(err)
		}
		settle()
		got := diffs(t, sub)
		if len(got) != 1 {
			t.Fatalf("node b received %d diffs, want 1: %v", len(got), got)
		}
		j, l := got[0].Joins["alice"].Metas, got[0].Leaves["alice"].Metas
		if len(j) != 1 || len(l) != 1 || j[0]["status"] != "away" || j[0][tracker.MetaRef] != ref2 ||
			j[0][tracker.MetaRefPrev] != ref || l[0]["status"] != "online" || l[0][tracker.MetaRef] != ref {
			t.Fatalf("update diff: joins %v, leaves %v (refs %s → %s)", j, l, ref, ref2)
		}
		if err := a.p.Untrack(owner, lobby, "alice"); err != nil {
			t.Fatal(err)
		}
		settle()
		if got := summaries(diffs(t, sub)); !slices.Equal(got, []string{"-alice@<nil>"}) {
			t.Fatalf("after Untrack node b received %q", got)
		}
		if len(b.p.List(lobby)) != 0 {
			t.Fatalf("List after Untrack: %v", b.p.List(lobby))
		}
	})
}

// With the fastlane as Dispatcher, a diff is encoded once per node and the same frame written to every
// connection of the topic; subscribers without a writer still get the Diff in their mailbox.
func TestDiffThroughFastlane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := pubsubtest.NewCluster()
		a := startNode(t, c, "a", presence.Config{Dispatcher: fastlane.Name})
		b := startNode(t, c, "b", presence.Config{Dispatcher: fastlane.Name})
		time.Sleep(time.Second)
		var conns []*fastlane.ChanWriter
		for _, n := range []*node{a, b, b} {
			w := fastlane.NewChanWriter(8)
			n.subscriber(t, lobby, fastlane.WithWriter(w))
			conns = append(conns, w)
		}
		mailbox := b.subscriber(t, lobby)
		ref, err := a.p.Track(a.subscriber(t, ""), lobby, "alice", nil)
		if err != nil {
			t.Fatal(err)
		}
		settle()
		want := fmt.Sprintf(`{"topic":"room:lobby","payload":{"joins":{"alice":{"metas":[{"phx_ref":%q}]}},"leaves":{}}}`, ref)
		for i, w := range conns {
			select {
			case f := <-w.C():
				if string(f) != want {
					t.Errorf("conn %d wrote %s, want %s", i, f, want)
				}
			default:
				t.Errorf("conn %d wrote nothing", i)
			}
		}
		if got := diffs(t, mailbox); len(got) != 1 {
			t.Errorf("the mailbox subscriber received %d diffs, want 1", len(got))
		}
		if st := b.fl.Stats(); st.Encodes != 1 || st.Writes != 2 {
			t.Errorf("node b's fastlane: %+v, want 1 encode and 2 writes", st)
		}
	})
}

// Fetch adds fields to every entry listed and delivered, once per diff on each node; a panic in it loses
// that diff only, counted and logged, and the next diff arrives.
func TestFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		calls := 0
		names := map[string]string{"alice": "Alice Liddell"}
		fetch := func(topic string, ps presence.Presences) presence.Presences {
			mu.Lock()
			calls++
			mu.Unlock()
			out := make(presence.Presences, len(ps))
			for k, e := range ps {
				if k == "mallory" {
					panic("no such user")
				}
				e.Fields = map[string]any{"name": names[k], "topic": topic}
				out[k] = e
			}
			return out
		}
		var logBuf syncBuffer
		cfg := presence.Config{Fetch: fetch, Tracker: tracker.TestConfig("presence", nil)}
		cfg.Tracker.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
		c := pubsubtest.NewCluster()
		a := startNode(t, c, "a", cfg)
		sub := a.subscriber(t, lobby)
		subs := []*pubsub.Subscriber{sub, a.subscriber(t, lobby), a.subscriber(t, lobby)}

		owner := a.subscriber(t, "")
		if _, err := a.p.Track(owner, lobby, "mallory", nil); err != nil {
			t.Fatal(err)
		}
		ref, err := a.p.Track(owner, lobby, "alice", nil)
		if err != nil {
			t.Fatal(err)
		}
		settle()
		got := diffs(t, sub)
		if len(got) != 1 || got[0].Joins["alice"].Fields["name"] != "Alice Liddell" {
			t.Fatalf("received %v, want alice's join only, with her name", got)
		}
		if js, _ := json.Marshal(got[0]); string(js) != fmt.Sprintf(`{"joins":{"alice":{"metas":[{"phx_ref":%q}],"name":"Alice Liddell","topic":"room:lobby"}},"leaves":{}}`, ref) {
			t.Fatalf("diff marshals to %s", js)
		}
		mu.Lock()
		if calls != 2 { // mallory's (panicked) and alice's: not once per subscriber
			t.Errorf("Fetch called %d times for 2 diffs to %d subscribers", calls, len(subs))
		}
		mu.Unlock()
		if st := a.p.Stats(); st.Delivered != 1 || st.DeliveryErrors != 1 {
			t.Errorf("Stats %+v, want 1 delivered and 1 error", st)
		}
		if !strings.Contains(logBuf.String(), "Fetch panicked: no such user") {
			t.Errorf("log lacks the panic: %s", logBuf.String())
		}
		if e, ok := a.p.GetByKey(lobby, "alice"); !ok || e.Fields["name"] != "Alice Liddell" {
			t.Errorf("GetByKey(alice) = %v, %v", e, ok)
		}
		a.p.Untrack(owner, lobby, "mallory")
		if l := a.p.List(lobby); len(l) != 1 || l["alice"].Fields["topic"] != lobby {
			t.Errorf("List = %v", l)
		}
	})
}

// The tracker handler given in Config.Tracker still receives every diff, after Presence delivered it.
func TestUserHandlerCalledAfterDelivery(t *testing.T) {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "presence-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	sub, err := ps.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Subscribe(lobby); err != nil {
		t.Fatal(err)
	}
	seen := make(chan int, 1)
	h := tracker.HandlerFunc(func(d map[string]tracker.Diff) {
		seen <- len(sub.C()) // the subscriber has the Diff already
	})
	p, err := presence.New(ps, presence.Config{Tracker: tracker.TestConfig("presence", h)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Track(sub, lobby, "alice", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-seen:
		if n != 1 {
			t.Fatalf("when the handler ran the subscriber had %d messages, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was not called")
	}
}

// A Dispatcher the PubSub does not know is refused by New, before a tracker starts: a typo would
// otherwise fail every delivery.
func TestUnknownDispatcherIsRejected(t *testing.T) {
	ps, err := pubsub.New(context.Background(), pubsub.Config{
		Name: "presence-test", Dispatchers: map[string]pubsub.Dispatcher{fastlane.Name: &fastlane.Dispatcher{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	_, err = presence.New(ps, presence.Config{Tracker: tracker.TestConfig("presence", nil), Dispatcher: "fastlnae"})
	if !errors.Is(err, presence.ErrInvalidConfig) || !strings.Contains(err.Error(), `"fastlnae"`) {
		t.Fatalf("New with an unknown Dispatcher: %v, want ErrInvalidConfig naming it", err)
	}
	// Nothing was started (goleak, in TestMain, would see a tracker's goroutines), and a known name works.
	p, err := presence.New(ps, presence.Config{Tracker: tracker.TestConfig("presence", nil), Dispatcher: fastlane.Name})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := presence.New(nil, presence.Config{Tracker: tracker.TestConfig("p", nil)}); !errors.Is(err, presence.ErrInvalidConfig) {
		t.Fatalf("nil PubSub: %v", err)
	}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "presence-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if _, err := presence.New(ps, presence.Config{}); !errors.Is(err, tracker.ErrInvalidConfig) {
		t.Fatalf("no tracker name: %v", err)
	}
	p, err := presence.New(ps, presence.Config{Tracker: tracker.TestConfig("p", nil)})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	owner, err := ps.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if _, err := p.Track(owner, lobby, "alice", nil); !errors.Is(err, tracker.ErrClosed) {
		t.Fatalf("Track after Close: %v", err)
	}
}

func TestEntryJSON(t *testing.T) {
	e := presence.Entry{Metas: []map[string]any{{"phx_ref": "r1", "n": 1.0}}, Fields: map[string]any{"user": map[string]any{"name": "Al"}}}
	b, err := json.Marshal(e)
	if err != nil || string(b) != `{"metas":[{"n":1,"phx_ref":"r1"}],"user":{"name":"Al"}}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back presence.Entry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Metas) != 1 || back.Metas[0]["phx_ref"] != "r1" || back.Fields["user"].(map[string]any)["name"] != "Al" {
		t.Fatalf("Unmarshal = %#v", back)
	}
	if b, err := json.Marshal(presence.Entry{}); err != nil || string(b) != `{"metas":[]}` {
		t.Fatalf("empty Entry marshals to %s, %v", b, err)
	}
	if _, err := json.Marshal(presence.Entry{Fields: map[string]any{"metas": 1}}); err == nil {
		t.Fatal(`Fields with "metas" marshalled`)
	}
	for _, bad := range []string{`[]`, `{"metas":{}}`, `{"metas":[1]}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
	if b, err := json.Marshal(presence.Diff{}); err != nil || string(b) != `{"joins":null,"leaves":null}` {
		t.Fatalf("zero Diff marshals to %s, %v", b, err)
	}
}

// syncBuffer is a bytes.Buffer safe for the tracker's and the test's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
