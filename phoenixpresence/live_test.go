package phoenixpresence

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/etf"
	"github.com/phxgo/pubsub/phoenixadapter"
	"github.com/phxgo/pubsub/tracker"
)

// The peer's tracker timings in the live tests: fast, and the same on both sides.
const (
	liveBroadcast = 100 * time.Millisecond
	liveDown      = 1000 * time.Millisecond
	livePermdown  = 2500 * time.Millisecond
)

var livePresenceOpts = fmt.Sprintf(`PHX_PRESENCE_OPTS={"broadcast_period":%d,"down_period":%d,"permdown_period":%d}`,
	liveBroadcast.Milliseconds(), liveDown.Milliseconds(), livePermdown.Milliseconds())

// diffLog records the diffs a Go replica's handler receives.
type diffLog struct {
	mu    sync.Mutex
	diffs []map[string]tracker.Diff
	ch    chan struct{}
}

func newDiffLog() *diffLog { return &diffLog{ch: make(chan struct{}, 1)} }

func (l *diffLog) HandleDiff(d map[string]tracker.Diff) {
	l.mu.Lock()
	l.diffs = append(l.diffs, d)
	l.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
	default:
	}
}

// await waits for a diff of topic for which match is true.
func (l *diffLog) await(t *testing.T, topic string, match func(tracker.Diff) bool) tracker.Diff {
	t.Helper()
	deadline := time.After(10 * time.Second)
	seen := 0
	for {
		l.mu.Lock()
		for ; seen < len(l.diffs); seen++ {
			if d, ok := l.diffs[seen][topic]; ok && match(d) {
				l.mu.Unlock()
				return d
			}
		}
		l.mu.Unlock()
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatalf("no matching diff on %s within 10 s", topic)
		}
	}
}

func has(ps []tracker.Presence, key string) bool {
	for _, p := range ps {
		if p.Key == key {
			return true
		}
	}
	return false
}

// owner is a tracker.Owner for the tests.
type owner struct{ done chan struct{} }

func newOwner() *owner                 { return &owner{done: make(chan struct{})} }
func (o *owner) Done() <-chan struct{} { return o.done }

// livePresence starts a peer with fast tracker timings and a Go node with a replica of MyApp.Presence.
func livePresence(t *testing.T) (*peer, *Tracker, *diffLog) {
	t.Helper()
	name := "Live" + uniqueName("") + ".PubSub"
	p := startPeer(t, name, livePresenceOpts)
	node := uniqueName("go") + "@127.0.0.1"
	a, err := phoenixadapter.New(phoenixadapter.Config{URL: liveRedis(t), PubSubName: name, NodeName: node})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps, err := pubsub.New(ctx, pubsub.Config{Name: name, Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	log := newDiffLog()
	// MaxSilentPeriods 2: idle, the Go replica's last heartbeat is at most 3 periods old when it stops,
	// so that TestLiveGoVanishes can bound when the peer notices.
	tr, err := New(ps, a, Config{Name: "MyApp.Presence", BroadcastPeriod: liveBroadcast, DownPeriod: liveDown,
		PermdownPeriod: livePermdown, MaxSilentPeriods: 2, Handler: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return p, tr, log
}

// elixirList is MyApp.Presence.list(topic) on the peer: key → metas.
func elixirList(p *peer, topic string) map[string][]map[string]any {
	r := p.Do(map[string]any{"cmd": "list", "topic": topic})
	out := map[string][]map[string]any{}
	b, _ := json.Marshal(r["result"])
	var res map[string]struct {
		Metas []map[string]any `json:"metas"`
	}
	json.Unmarshal(b, &res)
	for k, v := range res {
		out[k] = v.Metas
	}
	return out
}

// eventually retries check every 50 ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		if check() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

// presenceDiff waits for the peer's presence_diff on topic and returns its joins and leaves.
func presenceDiff(p *peer, topic string) (joins, leaves map[string]any) {
	ev := p.Await(10*time.Second, func(e map[string]any) bool {
		if e["event"] != "message" || e["topic"] != topic {
			return false
		}
		pl, _ := e["payload"].(map[string]any)
		return pl["event"] == "presence_diff"
	})
	pl := ev["payload"].(map[string]any)["payload"].(map[string]any)
	joins, _ = pl["joins"].(map[string]any)
	leaves, _ = pl["leaves"].(map[string]any)
	return joins, leaves
}

func metaOf(entry any) map[string]any {
	metas := entry.(map[string]any)["metas"].([]any)
	return metas[0].(map[string]any)
}

// Go track → MyApp.Presence.list/1 and presence_diff on the Elixir node; then update and untrack.
func TestLiveGoTrackUpdateUntrack(t *testing.T) {
	p, tr, _ := livePresence(t)
	p.Do(map[string]any{"cmd": "subscribe", "topic": "room:go"})
	o := newOwner()
	ref, err := tr.Track(o, "room:go", "gopher", map[string]any{"status": "online", "n": 1})
	if err != nil {
		t.Fatal(err)
	}
	joins, leaves := presenceDiff(p, "room:go")
	if m := metaOf(joins["gopher"]); m["status"] != "online" || m["phx_ref"] != ref || len(leaves) != 0 {
		t.Fatalf("join diff: joins %v, leaves %v", joins, leaves)
	}
	if l := elixirList(p, "room:go"); len(l) != 1 || len(l["gopher"]) != 1 || l["gopher"][0]["phx_ref"] != ref {
		t.Fatalf("MyApp.Presence.list: %v", l)
	}

	ref2, err := tr.Update(o, "room:go", "gopher", map[string]any{"status": "busy"})
	if err != nil {
		t.Fatal(err)
	}
	joins, leaves = presenceDiff(p, "room:go")
	if j, l := metaOf(joins["gopher"]), metaOf(leaves["gopher"]); j["status"] != "busy" || j["phx_ref"] != ref2 ||
		j["phx_ref_prev"] != ref || l["phx_ref"] != ref {
		t.Fatalf("update diff: joins %v, leaves %v", joins, leaves)
	}
	if l := elixirList(p, "room:go"); len(l["gopher"]) != 1 || l["gopher"][0]["status"] != "busy" {
		t.Fatalf("MyApp.Presence.list after the update: %v", l)
	}

	if err := tr.Untrack(o, "room:go", "gopher"); err != nil {
		t.Fatal(err)
	}
	joins, leaves = presenceDiff(p, "room:go")
	if len(joins) != 0 || metaOf(leaves["gopher"])["phx_ref"] != ref2 {
		t.Fatalf("untrack diff: joins %v, leaves %v", joins, leaves)
	}
	if l := elixirList(p, "room:go"); len(l) != 0 {
		t.Fatalf("MyApp.Presence.list after the untrack: %v", l)
	}
}

// Elixir track → the Go replica lists it with its phx_ref and meta, and its handler sees the join;
// then update, untrack, and kill (the process exits: its presences leave).
func TestLiveElixirTrackUpdateUntrackKill(t *testing.T) {
	p, tr, log := livePresence(t)
	r := p.Do(map[string]any{"cmd": "track", "topic": "room:ex", "key": "alice", "meta": map[string]any{"status": "online"}, "atom_keys": true})
	ref := r["phx_ref"]
	d := log.await(t, "room:ex", func(d tracker.Diff) bool { return has(d.Joins, "alice") })
	if j := d.Joins[0]; j.Meta["status"] != "online" || j.Ref != ref || j.Replica != p.Node {
		t.Fatalf("join: %+v", j)
	}
	if l := tr.List("room:ex"); len(l) != 1 || l[0].Key != "alice" || l[0].Ref != ref {
		t.Fatalf("List: %+v", l)
	}
	// The shape of MyApp.Presence.list/1, as JSON: the same on both sides.
	b, err := json.Marshal(tr.Presences("room:ex"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), jsonOf(t, p.Do(map[string]any{"cmd": "list", "topic": "room:ex"})["result"]); got != want {
		t.Fatalf("Presences as JSON: %s, MyApp.Presence.list: %s", got, want)
	}

	r = p.Do(map[string]any{"cmd": "update", "topic": "room:ex", "key": "alice", "meta": map[string]any{"status": "away"}, "atom_keys": true})
	ref2 := r["phx_ref"]
	d = log.await(t, "room:ex", func(d tracker.Diff) bool { return has(d.Joins, "alice") && has(d.Leaves, "alice") })
	if d.Joins[0].Meta["status"] != "away" || d.Joins[0].RefPrev != ref || d.Leaves[0].Ref != ref {
		t.Fatalf("update: %+v", d)
	}
	if l := tr.GetByKey("room:ex", "alice"); len(l) != 1 || l[0].Ref != ref2 {
		t.Fatalf("GetByKey after the update: %+v", l)
	}

	p.Do(map[string]any{"cmd": "untrack", "topic": "room:ex", "key": "alice"})
	log.await(t, "room:ex", func(d tracker.Diff) bool { return has(d.Leaves, "alice") && len(d.Joins) == 0 })
	if l := tr.List("room:ex"); len(l) != 0 {
		t.Fatalf("List after the untrack: %+v", l)
	}

	p.Do(map[string]any{"cmd": "track", "topic": "room:ex", "key": "bob", "meta": map[string]any{"status": "here"}})
	p.Do(map[string]any{"cmd": "track", "topic": "room:other", "key": "bob", "meta": map[string]any{}})
	eventually(t, 10*time.Second, "bob listed in both topics", func() bool {
		return len(tr.List("room:ex")) == 1 && len(tr.List("room:other")) == 1
	})
	p.Do(map[string]any{"cmd": "kill", "key": "bob"})
	eventually(t, 10*time.Second, "bob's presences gone after kill", func() bool {
		return len(tr.List("room:ex")) == 0 && len(tr.List("room:other")) == 0
	})
	log.await(t, "room:other", func(d tracker.Diff) bool { return has(d.Leaves, "bob") })
}

// A Go graceful permdown removes the Go presences on the Elixir node at once (well within its down
// period).
func TestLiveGoGracefulPermdown(t *testing.T) {
	p, tr, _ := livePresence(t)
	p.Do(map[string]any{"cmd": "subscribe", "topic": "room:go"})
	if _, err := tr.Track(newOwner(), "room:go", "gopher", nil); err != nil {
		t.Fatal(err)
	}
	presenceDiff(p, "room:go")
	start := time.Now()
	if err := tr.GracefulPermdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	joins, leaves := presenceDiff(p, "room:go")
	if len(joins) != 0 || leaves["gopher"] == nil {
		t.Fatalf("permdown diff: joins %v, leaves %v", joins, leaves)
	}
	if el := time.Since(start); el >= liveDown {
		t.Fatalf("the leave took %v, not less than the down period", el)
	}
	if l := elixirList(p, "room:go"); len(l) != 0 {
		t.Fatalf("MyApp.Presence.list after the permdown: %v", l)
	}
}

// An Elixir graceful permdown (quit permdown) removes its presences on the Go side at once.
func TestLiveElixirQuitPermdown(t *testing.T) {
	p, tr, log := livePresence(t)
	p.Do(map[string]any{"cmd": "track", "topic": "room:ex", "key": "alice", "meta": map[string]any{}})
	eventually(t, 10*time.Second, "alice listed", func() bool { return len(tr.List("room:ex")) == 1 })
	start := time.Now()
	p.Do(map[string]any{"cmd": "quit", "permdown": true})
	log.await(t, "room:ex", func(d tracker.Diff) bool { return has(d.Leaves, "alice") })
	if el := time.Since(start); el >= liveDown {
		t.Fatalf("the leave took %v, not less than the down period", el)
	}
	if l := tr.List("room:ex"); len(l) != 0 {
		t.Fatalf("List after the permdown: %+v", l)
	}
}

// A Go node that stops without a permdown: the Elixir node hides its presences after down_period and
// forgets its replica after permdown_period.
func TestLiveGoVanishes(t *testing.T) {
	p, tr, _ := livePresence(t)
	p.Do(map[string]any{"cmd": "subscribe", "topic": "room:go"})
	if _, err := tr.Track(newOwner(), "room:go", "gopher", nil); err != nil {
		t.Fatal(err)
	}
	presenceDiff(p, "room:go")
	tr.Close()
	start := time.Now()
	_, leaves := presenceDiff(p, "room:go")
	el := time.Since(start)
	if leaves["gopher"] == nil || el < liveDown-3*liveBroadcast {
		t.Fatalf("left after %v (down period %v): %v", el, liveDown, leaves)
	}
	if l := elixirList(p, "room:go"); len(l) != 0 {
		t.Fatalf("MyApp.Presence.list after the down period: %v", l)
	}
	eventually(t, 4*livePermdown, "the Go replica forgotten after the permdown period", func() bool {
		b, _ := json.Marshal(p.Do(map[string]any{"cmd": "stats"})["replicas"])
		var reps map[string]map[string]any
		json.Unmarshal(b, &reps)
		for _, shard := range reps {
			if _, ok := shard[tr.NodeName()]; ok {
				return false
			}
		}
		return true
	})
}

// The Go node joins after the Elixir node tracked: it gets the existing presences by a transfer, and
// serves its own to the Elixir node the same way.
func TestLiveLateJoinTransfers(t *testing.T) {
	name := "Live" + uniqueName("") + ".PubSub"
	p := startPeer(t, name, livePresenceOpts)
	p.Do(map[string]any{"cmd": "track", "topic": "room:ex", "key": "early", "meta": map[string]any{"x": 1}})
	// Two Go replicas: the first tracks, the second arrives late and must learn both others' presences.
	_, tr1, _ := liveReplica(t, name)
	if _, err := tr1.Track(newOwner(), "room:ex", "gopher", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "tr1 lists both", func() bool { return len(tr1.List("room:ex")) == 2 })
	_, tr2, _ := liveReplica(t, name)
	eventually(t, 10*time.Second, "the late replica lists both", func() bool { return len(tr2.List("room:ex")) == 2 })
	if tr2.Stats().TransfersSent == 0 {
		t.Errorf("the late replica sent no transfer request: %+v", tr2.Stats())
	}
	if l := elixirList(p, "room:ex"); len(l) != 2 {
		t.Fatalf("MyApp.Presence.list: %v", l)
	}
}

func liveReplica(t *testing.T, name string) (*pubsub.PubSub, *Tracker, *diffLog) {
	t.Helper()
	node := uniqueName("go") + "@127.0.0.1"
	a, err := phoenixadapter.New(phoenixadapter.Config{URL: liveRedis(t), PubSubName: name, NodeName: node})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.New(ctxT(t), pubsub.Config{Name: name, Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	log := newDiffLog()
	tr, err := New(ps, a, Config{Name: "MyApp.Presence", BroadcastPeriod: liveBroadcast, DownPeriod: liveDown,
		PermdownPeriod: livePermdown, MaxSilentPeriods: 2, Handler: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return ps, tr, log
}

// The Elixir node starts after the Go replica tracked: it learns the Go presences from the Go
// replica's full-state transfer_ack, answering its transfer_req.
func TestLiveElixirJoinsLate(t *testing.T) {
	peerScript(t) // skips (or fails) before anything starts
	name := "Live" + uniqueName("") + ".PubSub"
	_, tr, _ := liveReplica(t, name)
	ref, err := tr.Track(newOwner(), "room:go", "gopher", map[string]any{"v": 1})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * liveBroadcast) // the delta has gone out, to nobody
	p := startPeer(t, name, livePresenceOpts)
	var l map[string][]map[string]any
	eventually(t, 10*time.Second, "the Elixir node lists the Go presence", func() bool {
		l = elixirList(p, "room:go")
		return len(l["gopher"]) == 1
	})
	if l["gopher"][0]["phx_ref"] != ref || l["gopher"][0]["v"] != json.Number("1") && l["gopher"][0]["v"] != float64(1) {
		t.Fatalf("MyApp.Presence.list: %v", l)
	}
	if s := tr.Stats(); s.TransfersServed == 0 {
		t.Fatalf("the Go replica served no transfer: %+v", s)
	}
}

// Which MapSet shape the pinned Elixir 1.14 node merges: the one it writes (version: 2), and the
// 1.15+ one (no version).
func TestLiveMapSetShapes(t *testing.T) {
	for _, shape := range []string{"1.14", "1.15"} {
		t.Run(shape, func(t *testing.T) {
			name := "Live" + uniqueName("") + ".PubSub"
			p := startPeer(t, name, livePresenceOpts)
			a, err := phoenixadapter.New(phoenixadapter.Config{URL: liveRedis(t), PubSubName: name, NodeName: uniqueName("go") + "@127.0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			ps, err := pubsub.New(ctxT(t), pubsub.Config{Name: name, Adapter: a})
			if err != nil {
				t.Fatal(err)
			}
			defer ps.Close()
			tr, err := New(ps, a, Config{Name: "MyApp.Presence", BroadcastPeriod: liveBroadcast, DownPeriod: liveDown,
				PermdownPeriod: livePermdown, ElixirMapSet: shape})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			o := newOwner()
			tr.Track(o, "room:go", "a", nil)
			tr.Track(o, "room:go", "b", nil)
			eventually(t, 10*time.Second, "both listed", func() bool { return len(elixirList(p, "room:go")) == 2 })
			tr.Untrack(o, "room:go", "a") // the removal travels as a cloud dot: the MapSet
			eventually(t, 10*time.Second, "a gone", func() bool { l := elixirList(p, "room:go"); return len(l) == 1 && l["b"] != nil })
		})
	}
}

// lossySender drops this replica's heartbeats with a delta while drop is set, and counts the
// transfer_acks it sends that are delta generations.
type lossySender struct {
	sender
	drop        atomic.Bool
	deltaAcks   atomic.Int64
	droppedBeat atomic.Int64
}

func (l *lossySender) BroadcastTrusted(ctx context.Context, topic string, m any) error {
	if t, ok := m.(etf.Tuple); ok && l.drop.Load() && t[1] == atomHeartbeat && t[3] != atomEmpty {
		l.droppedBeat.Add(1)
		return nil
	}
	return l.sender.BroadcastTrusted(ctx, topic, m)
}

func (l *lossySender) DirectBroadcastTrusted(ctx context.Context, node, topic string, m any) error {
	if t, ok := m.(etf.Tuple); ok && t[1] == atomTransferAck {
		if _, full := t[4].(etf.Tuple); !full {
			l.deltaAcks.Add(1)
		}
	}
	return l.sender.DirectBroadcastTrusted(ctx, node, topic, m)
}

// The Elixir node misses two of the Go replica's heartbeats: it notices from the Go clock, asks, and
// merges the delta generation the Go replica answers with.
func TestLiveDeltaTransfer(t *testing.T) {
	name := "Live" + uniqueName("") + ".PubSub"
	p := startPeer(t, name, livePresenceOpts)
	a, err := phoenixadapter.New(phoenixadapter.Config{URL: liveRedis(t), PubSubName: name, NodeName: uniqueName("go") + "@127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.New(ctxT(t), pubsub.Config{Name: name, Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	cfg, err := Config{Name: "MyApp.Presence", BroadcastPeriod: liveBroadcast, DownPeriod: liveDown,
		PermdownPeriod: livePermdown, MaxSilentPeriods: 2}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	lossy := &lossySender{sender: a}
	tr, err := start(ps, lossy, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	o := newOwner()
	tr.Track(o, "room:go", "one", nil)
	eventually(t, 10*time.Second, "one listed", func() bool { return len(elixirList(p, "room:go")) == 1 })
	lossy.drop.Store(true)
	tr.Track(o, "room:go", "two", nil)
	eventually(t, 5*time.Second, "a heartbeat dropped", func() bool { return lossy.droppedBeat.Load() >= 1 })
	tr.Track(o, "room:go", "three", nil)
	eventually(t, 5*time.Second, "a second heartbeat dropped", func() bool { return lossy.droppedBeat.Load() >= 2 })
	if l := elixirList(p, "room:go"); len(l) != 1 {
		t.Fatalf("the Elixir node lists %v with the heartbeats lost", l)
	}
	lossy.drop.Store(false)
	eventually(t, 10*time.Second, "all three listed", func() bool { return len(elixirList(p, "room:go")) == 3 })
	if lossy.deltaAcks.Load() == 0 {
		t.Fatalf("the Elixir node got no delta generation (transfers served: %d)", tr.Stats().TransfersServed)
	}
}
