package phoenixpresence

import (
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/etf"
	"github.com/phxgo/pubsub/phoenixadapter"
	"github.com/phxgo/pubsub/tracker"
)

const (
	fastBroadcast = 20 * time.Millisecond
	fastDown      = 200 * time.Millisecond
	fastPermdown  = 500 * time.Millisecond
)

// goReplica starts a Go node on url with a replica of MyApp.Presence and fast timings.
func goReplica(t *testing.T, url, pubsubName, node string, cfg Config) (*Tracker, *diffLog) {
	t.Helper()
	a, err := phoenixadapter.New(phoenixadapter.Config{URL: url, PubSubName: pubsubName, NodeName: node})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.New(ctxT(t), pubsub.Config{Name: pubsubName, Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	log := newDiffLog()
	cfg.Name, cfg.Handler = "MyApp.Presence", log
	if cfg.BroadcastPeriod == 0 {
		cfg.BroadcastPeriod, cfg.DownPeriod, cfg.PermdownPeriod = fastBroadcast, fastDown, fastPermdown
	}
	tr, err := New(ps, a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, log
}

func miniURL(t *testing.T) string {
	return "redis://" + miniredis.RunT(t).Addr()
}

// Two Go replicas share presences through the gossip alone: track, update, untrack, an owner that is
// done, and a graceful permdown.
func TestGoReplicas(t *testing.T) {
	url := miniURL(t)
	tr1, _ := goReplica(t, url, "MyApp.PubSub", "go1@host", Config{})
	tr2, log2 := goReplica(t, url, "MyApp.PubSub", "go2@host", Config{})
	o := newOwner()
	ref, err := tr1.Track(o, "room", "alice", map[string]any{"status": "on", "n": 3})
	if err != nil {
		t.Fatal(err)
	}
	d := log2.await(t, "room", func(d tracker.Diff) bool { return has(d.Joins, "alice") })
	if j := d.Joins[0]; j.Ref != ref || len(j.Meta) != 2 || j.Meta["status"] != "on" || j.Meta["n"] != int64(3) || j.Replica != "go1@host" {
		t.Fatalf("join: %+v", j)
	}
	if l := tr1.List("room"); len(l) != 1 || l[0].Meta["n"] != int64(3) || l[0].Ref != ref {
		t.Fatalf("the meta reads differently on its own node: %+v", l)
	}
	if ps := tr2.Presences("room"); len(ps) != 1 || len(ps["alice"].Metas) != 1 || ps["alice"].Metas[0]["phx_ref"] != ref {
		t.Fatalf("Presences: %+v", ps)
	}
	if tr2.Presences("nothing") != nil {
		t.Fatal("Presences of an empty topic is not nil")
	}
	if _, err := tr1.Track(o, "room", "alice", nil); !errors.Is(err, tracker.ErrAlreadyTracked) {
		t.Fatalf("tracking twice: %v", err)
	}
	ref2, err := tr1.Update(o, "room", "alice", map[string]any{"status": "off"})
	if err != nil {
		t.Fatal(err)
	}
	d = log2.await(t, "room", func(d tracker.Diff) bool { return has(d.Joins, "alice") && has(d.Leaves, "alice") })
	if d.Joins[0].Ref != ref2 || d.Joins[0].RefPrev != ref || d.Leaves[0].Ref != ref || d.Leaves[0].RefPrev != "" {
		t.Fatalf("update: %+v", d)
	}
	if _, err := tr1.Update(newOwner(), "room", "alice", nil); !errors.Is(err, tracker.ErrNoPresence) {
		t.Fatalf("update by another owner: %v", err)
	}
	if err := tr1.Untrack(o, "room", "alice"); err != nil {
		t.Fatal(err)
	}
	log2.await(t, "room", func(d tracker.Diff) bool { return has(d.Leaves, "alice") && len(d.Joins) == 0 })

	// An owner that is done: its presences end.
	o2 := newOwner()
	tr1.Track(o2, "room", "bob", nil)
	tr1.Track(o2, "hall", "bob", nil)
	eventually(t, 5*time.Second, "bob on go2", func() bool { return len(tr2.List("room")) == 1 && len(tr2.List("hall")) == 1 })
	close(o2.done)
	eventually(t, 5*time.Second, "bob gone on go2", func() bool { return len(tr2.List("room")) == 0 && len(tr2.List("hall")) == 0 })
	if len(tr1.List("room")) != 0 {
		t.Fatalf("bob still on go1")
	}

	tr1.Track(newOwner(), "room", "carol", nil)
	eventually(t, 5*time.Second, "carol on go2", func() bool { return len(tr2.GetByKey("room", "carol")) == 1 })
	if err := tr1.GracefulPermdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	log2.await(t, "room", func(d tracker.Diff) bool { return has(d.Leaves, "carol") })
	if time.Since(start) > fastDown {
		t.Fatalf("the permdown took %v", time.Since(start))
	}
	if _, err := tr1.Track(newOwner(), "room", "x", nil); !errors.Is(err, tracker.ErrClosed) {
		t.Fatalf("Track after the permdown: %v", err)
	}
	if err := tr1.GracefulPermdown(ctxT(t)); !errors.Is(err, tracker.ErrClosed) {
		t.Fatalf("a second permdown: %v", err)
	}
}

// A replica that stops without a permdown is down after DownPeriod (its presences leave) and gone
// after PermdownPeriod.
func TestGoReplicaVanishes(t *testing.T) {
	url := miniURL(t)
	// Idle, a replica sends a heartbeat every MaxSilentPeriods periods: 2 here, so that its last one
	// came at most 3 periods before it stopped.
	tr1, _ := goReplica(t, url, "MyApp.PubSub", "go1@host", Config{MaxSilentPeriods: 2, BroadcastPeriod: fastBroadcast,
		DownPeriod: fastDown, PermdownPeriod: fastPermdown})
	tr2, log2 := goReplica(t, url, "MyApp.PubSub", "go2@host", Config{})
	tr1.Track(newOwner(), "room", "alice", nil)
	eventually(t, 5*time.Second, "alice on go2", func() bool { return len(tr2.List("room")) == 1 })
	tr1.Close()
	start := time.Now()
	log2.await(t, "room", func(d tracker.Diff) bool { return has(d.Leaves, "alice") })
	if el := time.Since(start); el < fastDown-3*fastBroadcast {
		t.Fatalf("alice left after %v, before the down period", el)
	}
	eventually(t, 5*time.Second, "go1 forgotten", func() bool { return tr2.Stats().Replicas == 0 && tr2.Stats().Presences == 0 })
	if el := time.Since(start); el < fastPermdown-3*fastBroadcast {
		t.Fatalf("go1 forgotten after %v, before the permdown period", el)
	}
}

// Gossip that is not a tracker message of the pinned shapes, exceeds the limits, or claims this
// node's name is dropped and counted, and changes nothing.
func TestHostileGossip(t *testing.T) {
	m := miniredis.RunT(t)
	url := "redis://" + m.Addr()
	tr, log := goReplica(t, url, "MyApp.PubSub", "go1@host", Config{Limits: Limits{MaxValues: 2}})
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer c.Close()
	evil := etf.Tuple{etf.Atom("evil@host"), int64(1)}
	value := func(clock int64, key string) etf.Pair {
		return etf.Pair{Key: etf.Tuple{evil, clock}, Value: etf.Tuple{etf.Pid{Node: "evil@host", ID: 1}, "room", key, etf.Map{}}}
	}
	delta := func(values ...etf.Pair) etf.Map {
		return etf.Map{{Key: atomStruct, Value: atomStateMod}, {Key: etf.Atom("mode"), Value: atomDelta},
			{Key: etf.Atom("replica"), Value: evil}, {Key: etf.Atom("values"), Value: etf.Map(values)}}
	}
	clocks := etf.Tuple{evil, etf.Map{{Key: evil, Value: int64(3)}}}
	bad := []any{
		"not a tuple",
		etf.Tuple{atomPub, etf.Atom("nonsense"), evil},
		etf.Tuple{atomPub, atomHeartbeat, "not a ref", atomEmpty, clocks},
		etf.Tuple{atomPub, atomHeartbeat, evil, delta(value(1, "a"), value(2, "b"), value(3, "c")), clocks}, // 3 > MaxValues
		etf.Tuple{atomPub, atomHeartbeat, etf.Tuple{etf.Atom("go1@host"), int64(5)}, atomEmpty, clocks},     // our own name
		etf.Tuple{atomPub, atomTransferAck, etf.Atom("r"), evil, int64(7)},
	}
	for _, term := range bad {
		frame, err := (&etf.Encoder{}).Append(nil, etf.Tuple{int64(3), etf.Atom("except"), etf.Atom("evil@host"),
			Topic("MyApp.Presence"), term, etf.Atom(phoenixadapter.PubSubDispatcher)})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Publish(ctxT(t), phoenixadapter.ChannelName("MyApp.PubSub"), frame).Err(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "every bad message counted", func() bool { return tr.Stats().DroppedGossip == uint64(len(bad)) })
	if s := tr.Stats(); s.Replicas != 0 || s.Presences != 0 || s.Received != 0 {
		t.Fatalf("bad gossip changed the state: %+v", s)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.diffs) != 0 {
		t.Fatalf("bad gossip made diffs: %v", log.diffs)
	}
}

// Once its PubSub is closed, the tracker refuses every call.
func TestPubSubClosed(t *testing.T) {
	url := miniURL(t)
	a, err := phoenixadapter.New(phoenixadapter.Config{URL: url, PubSubName: "MyApp.PubSub", NodeName: "go1@host"})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.New(ctxT(t), pubsub.Config{Name: "MyApp.PubSub", Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(ps, a, Config{Name: "MyApp.Presence"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ps.Close()
	eventually(t, 5*time.Second, "ErrClosed after the PubSub closed", func() bool {
		_, err := tr.Track(newOwner(), "t", "k", nil)
		return errors.Is(err, tracker.ErrClosed)
	})
}

// Bad input to the API is refused with the tracker's errors.
func TestArguments(t *testing.T) {
	tr, _ := goReplica(t, miniURL(t), "MyApp.PubSub", "go1@host", Config{})
	o := newOwner()
	for _, tt := range []struct {
		err  error
		call func() error
	}{
		{tracker.ErrInvalidArgument, func() error { _, err := tr.Track(nil, "t", "k", nil); return err }},
		{tracker.ErrInvalidArgument, func() error { _, err := tr.Track(o, "", "k", nil); return err }},
		{tracker.ErrInvalidArgument, func() error { _, err := tr.Track(o, "t", "", nil); return err }},
		{tracker.ErrInvalidArgument, func() error { _, err := tr.Track(o, "t", "k", map[string]any{"a": etf.Atom("x")}); return err }},
		{tracker.ErrInvalidArgument, func() error { _, err := tr.Track(o, "t", "k", map[string]any{"a": make(chan int)}); return err }},
		{tracker.ErrNoPresence, func() error { _, err := tr.Update(o, "t", "k", nil); return err }},
	} {
		if err := tt.call(); !errors.Is(err, tt.err) {
			t.Errorf("got %v, want %v", err, tt.err)
		}
	}
	if err := tr.Untrack(o, "t", "nothing"); err != nil {
		t.Errorf("untracking what is not tracked: %v", err)
	}
	for _, cfg := range []Config{
		{},
		{Name: "P", BroadcastPeriod: time.Second, DownPeriod: time.Second},
		{Name: "P", DownPeriod: time.Minute, PermdownPeriod: time.Minute},
		{Name: "P", ElixirMapSet: "1.99"},
	} {
		if _, err := cfg.withDefaults(); !errors.Is(err, tracker.ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

// Replica timings, with explicit times: down after DownPeriod of silence, permdown after
// PermdownPeriod, back up on a heartbeat, and a new vsn replacing the old incarnation.
func TestReplicaTimings(t *testing.T) {
	self := replicaRef{Name: "go@host", Vsn: 1}
	st := newState(self)
	rs := &replicas{st: st, byName: map[string]*remote{}}
	a1 := replicaRef{Name: "a@host", Vsn: 10}
	var c changes
	rs.heartbeat(a1, timeZero, &c)
	st.merge(&wireState{Delta: true, Replica: a1, Context: causal{}, Clouds: clouds{a1: {tag{a1, 1}: {}}},
		Values: map[tag]*value{{a1, 1}: {Pid: etf.Pid{Node: "a@host"}, Topic: "room", Key: "k", KeyID: "k", Meta: etf.Map{}, Tag: tag{a1, 1}}}})
	at := func(d time.Duration) changes {
		var c changes
		rs.detectDowns(timeZero.Add(d), 30*time.Second, 20*time.Minute, &c)
		return c
	}
	if c := at(30 * time.Second); len(c.leaves) != 0 || len(st.online("room")) != 1 {
		t.Fatalf("down at exactly the down period: %+v", c)
	}
	if c := at(30*time.Second + time.Millisecond); len(c.leaves) != 1 || len(st.online("room")) != 0 || len(st.values) != 1 {
		t.Fatalf("not down after the down period: %+v", c)
	}
	if c := at(31 * time.Second); len(c.leaves) != 0 {
		t.Fatalf("down twice: %+v", c)
	}
	var up changes
	rs.heartbeat(a1, timeZero.Add(40*time.Second), &up)
	if len(up.joins) != 1 || len(st.online("room")) != 1 {
		t.Fatalf("not back up on a heartbeat: %+v", up)
	}
	a2 := replicaRef{Name: "a@host", Vsn: 11}
	var re changes
	rs.heartbeat(a2, timeZero.Add(41*time.Second), &re)
	if len(re.leaves) != 1 || len(st.values) != 0 || rs.byName["a@host"].ref != a2 {
		t.Fatalf("a new incarnation did not replace the old: %+v", re)
	}
	if c := at(41*time.Second + 20*time.Minute + time.Millisecond); len(c.leaves) != 0 || len(rs.byName) != 0 {
		t.Fatalf("not permdown after the permdown period: %+v, %v", c, rs.byName)
	}
	if _, ok := st.causal[a2]; ok {
		t.Fatalf("a permdowned replica stays in the context")
	}
}

// A handler that stalls costs bounded memory: past MaxPendingDiffs presences, the oldest diffs are
// dropped and counted; the newest is delivered once the handler returns.
func TestSlowHandler(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{}, 100)
	got := make(chan map[string]tracker.Diff, 100)
	h := tracker.HandlerFunc(func(d map[string]tracker.Diff) {
		started <- struct{}{}
		<-release
		got <- d
	})
	var dropped atomic.Uint64
	q := newDiffQueue(h, slog.New(slog.DiscardHandler), 3, &dropped)
	one := func(key string) map[string]tracker.Diff {
		return map[string]tracker.Diff{"t": {Joins: []tracker.Presence{{Key: key}}}}
	}
	q.push(one("first"))
	<-started // the handler has it, and waits
	for i := 0; i < 10; i++ {
		q.push(one(strconv.Itoa(i)))
	}
	if n := dropped.Load(); n != 7 {
		t.Fatalf("dropped %d presences, want 7", n)
	}
	close(release)
	q.close()
	var keys []string
	for len(got) > 0 {
		keys = append(keys, (<-got)["t"].Joins[0].Key)
	}
	if !slices.Equal(keys, []string{"first", "7", "8", "9"}) {
		t.Fatalf("delivered %v", keys)
	}
}
