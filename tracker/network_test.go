package tracker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/pubsubtest"
)

// holeAdapter wraps a cluster node's adapter and, while the hole is open, makes every send hang as a
// Redis black hole does: until its context ends (obeyCtx) or, for a transport that ignores its context,
// for ignoreFor.
type holeAdapter struct {
	pubsub.Adapter
	open      atomic.Bool
	obeyCtx   bool
	ignoreFor time.Duration
	stalled   atomic.Int64 // sends that hung
}

func (a *holeAdapter) hang(ctx context.Context) error {
	a.stalled.Add(1)
	if a.obeyCtx {
		<-ctx.Done()
		return ctx.Err()
	}
	time.Sleep(a.ignoreFor)
	return errHole
}

func (a *holeAdapter) Broadcast(ctx context.Context, f pubsub.Frame) error {
	if a.open.Load() {
		return a.hang(ctx)
	}
	return a.Adapter.Broadcast(ctx, f)
}

func (a *holeAdapter) DirectBroadcast(ctx context.Context, node string, f pubsub.Frame) error {
	if a.open.Load() {
		return a.hang(ctx)
	}
	return a.Adapter.DirectBroadcast(ctx, node, f)
}

// startHoled starts node name with its sends going through a holeAdapter.
func startHoled(t *testing.T, h *pubsubtest.Cluster, name string, cfg Config, obeyCtx bool) (*hubNode, *holeAdapter) {
	t.Helper()
	ha := &holeAdapter{Adapter: h.Adapter(name), obeyCtx: obeyCtx, ignoreFor: 5 * time.Second}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "tracker-test", Adapter: ha})
	if err != nil {
		t.Fatal(err)
	}
	n := &hubNode{name: name, ps: ps, log: &diffLog{}}
	cfg.Handler = n.log
	if n.tr, err = New(ps, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.crash() })
	return n, ha
}

// A node in a black hole (its sends hang, nothing reaches it) keeps its failure detector's timing: its
// shard goroutine never sends, so it marks its peer down at the first tick more than DownPeriod after the
// peer's last heartbeat, as it would for a crash, while its sends hang in the outbox; tracks go on
// meanwhile without waiting. Heartbeats that could not go out are coalesced into one, not queued.
func TestBlackholeKeepsFailureDetection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		a, hole := startHoled(t, h, "a", cfg, true)
		b := start(t, h, "b", cfg)
		b.tr.Track(b.owner(), "room", "y", nil)
		sleep(ms(520))
		if got := a.list("room"); len(got) != 1 {
			t.Fatalf("a lists %v", got)
		}
		b.tr.Track(b.owner(), "room", "z", nil) // b's last heartbeat a hears, at 520 ms
		synctest.Wait()
		heard := time.Now()
		hole.open.Store(true)
		h.Partition([]string{"a"}, []string{"b"})
		o := a.owner()
		for i := range 10 { // Track never waits for the network
			start := time.Now()
			if _, err := a.tr.Track(o, "room", "a"+string(rune('0'+i)), nil); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d != 0 {
				t.Fatalf("Track took %v in a black hole", d)
			}
			sleep(ms(20))
		}
		if got := len(a.list("room")); got != 12 {
			t.Fatalf("at %v a lists %d presences", time.Since(heard), got)
		}
		var left time.Duration
		for len(a.tr.List("room")) > 10 {
			sleep(time.Millisecond)
			if left = time.Since(heard); left > 2*cfg.DownPeriod {
				t.Fatalf("b still up on a %v after its last heartbeat", left)
			}
		}
		if left <= cfg.DownPeriod || left > cfg.DownPeriod+cfg.BroadcastPeriod {
			t.Fatalf("b's presences left a %v after b's last heartbeat, want in (DownPeriod, DownPeriod+BroadcastPeriod]", left)
		}
		if n := hole.stalled.Load(); n == 0 || n > 3 {
			t.Fatalf("%d sends hung: want the one in flight each time, the rest waiting (coalesced)", n)
		}
		if a.tr.Stats().CoalescedHeartbeats == 0 {
			t.Fatal("no heartbeat coalesced while the sends hung")
		}
		t.Logf("b down on a %v after its last heartbeat; %d sends hung; %+v", left, hole.stalled.Load(), a.tr.Stats())
	})
}

// Close returns at once in a black hole (the send in flight is cancelled), and GracefulPermdown within
// its context (whether or not the transport obeys it), with an error saying the announcement was not
// sent. A transport that ignores its context delays Close by at most outboxStopWait.
func TestBlackholeCloseAndPermdownAreBounded(t *testing.T) {
	for _, obey := range []bool{true, false} {
		name := map[bool]string{true: "transport obeys its context", false: "transport ignores its context"}[obey]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := pubsubtest.NewCluster()
				cfg := TestConfig("presence", nil)
				cfg.PoolSize = 4
				a, hole := startHoled(t, h, "a", cfg, obey)
				sleep(ms(250))
				hole.open.Store(true)
				a.tr.Track(a.owner(), "room", "x", nil)
				sleep(ms(250)) // sends hang now
				start := time.Now()
				a.tr.Close()
				took := time.Since(start)
				limit := time.Duration(0)
				if !obey {
					limit = outboxStopWait
				}
				if took > limit || took > time.Second {
					t.Fatalf("Close took %v in a black hole, want ≤ %v", took, limit)
				}

				b, hole := startHoled(t, h, "b", cfg, obey)
				sleep(ms(250))
				hole.open.Store(true)
				sleep(ms(250))
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				start = time.Now()
				err := b.tr.GracefulPermdown(ctx)
				took = time.Since(start)
				if err == nil {
					t.Fatal("GracefulPermdown into a black hole returned nil")
				}
				if took > 200*time.Millisecond {
					t.Fatalf("GracefulPermdown with a 200 ms context took %v (err %v)", took, err)
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("GracefulPermdown: %v, want the context's error", err)
				}
				t.Logf("GracefulPermdown took %v: %v", took, err)
				sleep(10 * time.Second) // the sends that ignore their context return
			})
		})
	}
}

var errHole = errors.New("black hole: timed out")

// After its PubSub closes, every call of the tracker returns ErrClosed, which matches pubsub.ErrClosed.
func TestEveryCallAfterPubSubCloseIsErrClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		a := start(t, h, "a", TestConfig("presence", nil))
		o := a.owner()
		if _, err := a.tr.Track(o, "room", "x", nil); err != nil {
			t.Fatal(err)
		}
		a.ps.Close()
		calls := map[string]func() error{
			"Track":      func() error { _, err := a.tr.Track(o, "room", "y", nil); return err },
			"Untrack":    func() error { return a.tr.Untrack(o, "room", "x") },
			"UntrackAll": func() error { return a.tr.UntrackAll(o) },
			"Update":     func() error { _, err := a.tr.Update(o, "room", "x", nil); return err },
			"UpdateFunc": func() error {
				_, err := a.tr.UpdateFunc(o, "room", "x", func(m map[string]any) map[string]any { return m })
				return err
			},
			"GracefulPermdown": func() error {
				return a.tr.GracefulPermdown(context.Background())
			},
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, ErrClosed) || !errors.Is(err, pubsub.ErrClosed) {
				t.Errorf("%s after the PubSub closed: %v, want ErrClosed", name, err)
			}
		}
		if err := a.tr.Close(); err != nil {
			t.Errorf("Close after the PubSub closed: %v", err)
		}
	})
}

// A shard whose goroutine is stalled (here: its lock held for a second, as a large merge holds it) is not
// taken for dead: its outbox repeats its last heartbeat when the shard sends none for longer than its idle
// cadence, so its peers keep it up; and once it runs again, it does not mark its peers down at its first
// tick, before it has read the heartbeats waiting in its mailbox.
func TestStalledShardIsNotTakenForDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		a := start(t, h, "a", cfg)
		b := start(t, h, "b", cfg)
		a.tr.Track(a.owner(), "room", "x", nil)
		b.tr.Track(b.owner(), "room", "y", nil)
		sleep(ms(250))
		s := a.shard()
		release := make(chan struct{})
		s.mu.Lock()
		s.stall = func() { <-release } // a's shard is stalled at its next tick: no heartbeat, no merge
		s.mu.Unlock()
		sleep(10 * cfg.DownPeriod)
		s.mu.Lock()
		s.stall = nil
		s.mu.Unlock()
		close(release)
		if _, up := b.knows("a"); !up {
			t.Fatal("b took a stalled a for dead")
		}
		sleep(cfg.BroadcastPeriod * 3)
		if _, up := a.knows("b"); !up {
			t.Fatal("a marked b down after its own stall")
		}
		for _, n := range []*hubNode{a, b} {
			if got := n.list("room"); !slices.Equal(got, []string{"x@a", "y@b"}) {
				t.Fatalf("%s lists %v", n.name, got)
			}
			for _, ev := range n.log.events() {
				if ev[0] == '-' {
					t.Fatalf("%s saw a leave: %v", n.name, n.log.events())
				}
			}
		}
		if a.tr.stats.keepalives.Load() == 0 {
			t.Fatal("no keepalive sent")
		}
	})
}

// Closing a tracker while its outbox sends the last chunk of a large message neither panics nor leaks:
// stop empties the bulk lane under the sender's feet. Sends hang (a black hole) until their timeout or
// the close, and closes at every 50 ms cover every chunk of the message.
func TestCloseDuringAChunkedSend(t *testing.T) {
	for i := range 40 {
		synctest.Test(t, func(t *testing.T) {
			h := pubsubtest.NewCluster()
			cfg := TestConfig("presence", nil)
			cfg.MaxGossipSize = 4 << 10
			a, hole := startHoled(t, h, "a", cfg, true)
			sleep(ms(10))
			hole.open.Store(true)
			o := a.owner()
			for k := range 200 {
				a.tr.Track(o, "room", fmt.Sprint("user:", k), map[string]any{"name": "a longish name to fill chunks"})
			}
			time.Sleep(time.Duration(i) * 50 * time.Millisecond)
			a.tr.Close()
		})
	}
}

// Close does not wait for a shard busy merging a large transfer (stalled here): it returns within
// outboxStopWait, and the shard's goroutine returns when its work is done.
func TestCloseDoesNotWaitForABusyShard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := pubsubtest.NewCluster()
		cfg := TestConfig("presence", nil)
		a := start(t, h, "a", cfg)
		s := a.shard()
		release := make(chan struct{})
		s.mu.Lock()
		s.stall = func() { <-release }
		s.mu.Unlock()
		sleep(ms(150)) // the shard's goroutine is stalled in its tick
		start := time.Now()
		a.tr.Close()
		if took := time.Since(start); took > outboxStopWait {
			t.Fatalf("Close took %v with a busy shard", took)
		}
		close(release)
		synctest.Wait()
	})
}
