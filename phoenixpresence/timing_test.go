package phoenixpresence

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/etf"
	"github.com/phxgo/pubsub/tracker"
)

// simNet carries gossip between replicas on single-node PubSubs, through the codec (encoded, then
// decoded on the way in), with the time of each message sent: Phoenix's timings checked to the
// millisecond under testing/synctest's fake clock.
type simNet struct {
	mu    sync.Mutex
	nodes map[string]*pubsub.PubSub
	sent  map[string][]time.Time // heartbeats sent, by node
}

type simSender struct {
	net  *simNet
	name string
}

func (s simSender) NodeName() string { return s.name }

func (s simSender) send(topic string, message any, to func(string) bool) error {
	b, err := (&etf.Encoder{}).Append(nil, message)
	if err != nil {
		return err
	}
	v, err := etf.Decode(b, etf.Limits{})
	if err != nil {
		return err
	}
	s.net.mu.Lock()
	if m, ok := v.(etf.Tuple); ok && m[1] == atomHeartbeat {
		s.net.sent[s.name] = append(s.net.sent[s.name], time.Now())
	}
	var targets []*pubsub.PubSub
	for name, ps := range s.net.nodes {
		if to(name) {
			targets = append(targets, ps)
		}
	}
	s.net.mu.Unlock()
	for _, ps := range targets {
		ps.LocalBroadcast(topic, v)
	}
	return nil
}

func (s simSender) BroadcastTrusted(_ context.Context, topic string, message any) error {
	return s.send(topic, message, func(n string) bool { return n != s.name })
}

func (s simSender) DirectBroadcastTrusted(_ context.Context, node, topic string, message any) error {
	return s.send(topic, message, func(n string) bool { return n == node })
}

func (n *simNet) lastHeartbeat(node string) time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	hs := n.sent[node]
	return hs[len(hs)-1]
}

// start starts a replica called name on the network.
func (n *simNet) start(t *testing.T, name string, cfg Config) *Tracker {
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "MyApp.PubSub", NodeName: name})
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.nodes[name] = ps
	n.mu.Unlock()
	cfg.Name = "MyApp.Presence"
	if cfg, err = cfg.withDefaults(); err != nil {
		t.Fatal(err)
	}
	tr, err := start(ps, simSender{net: n, name: name}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close(); ps.Close() })
	return tr
}

// Phoenix's timings, exactly: a change reaches the other replica at the sender's next tick; a silent
// replica's presences leave at the first tick after DownPeriod has passed since its last heartbeat,
// and the replica is forgotten at the first tick after PermdownPeriod.
func TestTimings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			period   = 100 * time.Millisecond
			down     = time.Second
			permdown = 3 * time.Second
		)
		net := &simNet{nodes: map[string]*pubsub.PubSub{}, sent: map[string][]time.Time{}}
		cfg := Config{BroadcastPeriod: period, MaxSilentPeriods: 2, DownPeriod: down, PermdownPeriod: permdown}
		a := net.start(t, "a@host", cfg)
		var leftAt time.Time
		var mu sync.Mutex
		cfgB := cfg
		cfgB.Handler = tracker.HandlerFunc(func(d map[string]tracker.Diff) {
			if len(d["room"].Leaves) > 0 {
				mu.Lock()
				leftAt = time.Now()
				mu.Unlock()
			}
		})
		b := net.start(t, "b@host", cfgB)
		time.Sleep(time.Second) // both up on each other
		synctest.Wait()

		tracked := time.Now()
		if _, err := a.Track(newOwner(), "room", "alice", nil); err != nil {
			t.Fatal(err)
		}
		for len(b.List("room")) == 0 {
			time.Sleep(time.Millisecond)
			synctest.Wait()
		}
		if el := time.Since(tracked); el > period {
			t.Fatalf("the join reached b after %v, more than one period", el)
		}
		time.Sleep(5 * period) // a is idle: heartbeats every 3 periods
		synctest.Wait()

		a.Close() // silent from now on
		last := net.lastHeartbeat("a@host")
		for len(b.List("room")) != 0 {
			time.Sleep(time.Millisecond)
			synctest.Wait()
		}
		mu.Lock()
		left := leftAt.Sub(last)
		mu.Unlock()
		if left <= down || left > down+period {
			t.Fatalf("alice left %v after a's last heartbeat; want within (%v, %v]", left, down, down+period)
		}
		for b.Stats().Replicas != 0 {
			time.Sleep(time.Millisecond)
			synctest.Wait()
		}
		if gone := time.Since(last); gone <= permdown || gone > permdown+period+time.Millisecond {
			t.Fatalf("a forgotten %v after its last heartbeat; want within (%v, %v]", gone, permdown, permdown+period)
		}
		if b.Stats().Presences != 0 {
			t.Fatalf("a's presences kept after its permdown: %+v", b.Stats())
		}
	})
}
