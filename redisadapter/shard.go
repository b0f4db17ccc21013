package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/pubsub"
)

// Sharded pub/sub (Config.RouteByTopic with a *redis.ClusterClient). Buckets are grouped into
// Config.Partitions partitions whose channels share a hash tag, so each partition lives in one slot,
// on one master: broadcasts go out with SPUBLISH, which Redis Cluster delivers on that master alone
// (classic PUBLISH is forwarded to every master over the cluster bus). A node keeps one connection per
// partition in use, to the partition's master, on which the bucket table sends SSUBSCRIBE and
// SUNSUBSCRIBE in batches (one slot per connection: never CROSSSLOT).
//
// Each partition's goroutine (shards.run) dials, hands the connection to the table (attach, which
// subscribes the partition's buckets), reads, and when the connection fails reconnects, with backoff,
// and reports a gap scoped to the partition. It notices a connection that fails silently with a PING
// every ProbeInterval (anything read proves it alive), and a slot that moved to another master by the
// server's unsolicited SUNSUBSCRIBE, which go-redis ignores (delivery then stops for ever): the
// partition reconnects, to the slot's new master once the slot map is reloaded.

// errSlotMoved is why a partition reconnects after the server unsubscribed it.
var errSlotMoved = errors.New("redisadapter: the server unsubscribed a sharded channel (its slot moved)")

// shards runs the partitions' connections.
type shards struct {
	a      *Adapter
	table  *bucketTable
	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	running  []bool         // a goroutine runs the partition
	subs     []subscription // each partition's live connection, to close
	released []bool         // the table released the partition's connection (no loss to report)
}

func newShards(a *Adapter) *shards {
	n := a.cfg.Partitions
	s := &shards{a: a, running: make([]bool, n), subs: make([]subscription, n), released: make([]bool, n)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// start connects the shards to the table, which asks for partitions as buckets need them.
func (s *shards) start(t *bucketTable) {
	s.table = t
	t.mu.Lock()
	t.sharded, t.need, t.release = true, s.need, s.release
	t.mu.Unlock()
}

// checkSharded refuses a cluster client whose subscriptions the adapter cannot make itself (see
// rawOptions): go-redis's own sharded subscriptions ignore the server's SUNSUBSCRIBE.
func (a *Adapter) checkSharded(ctx context.Context) error {
	opt, err := rawOptions(ctx, a.client, a.bcast)
	if err != nil {
		return fmt.Errorf("redisadapter: %w", err)
	}
	if opt == nil {
		return fmt.Errorf("%w: redisadapter: RouteByTopic on a Redis Cluster needs a ClusterClient that reads from masters, without OnConnect or a StreamingCredentialsProvider", pubsub.ErrInvalidConfig)
	}
	return nil
}

// need starts partition p's goroutine unless it runs.
func (s *shards) need(p int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.running[p] {
		return
	}
	s.running[p], s.released[p] = true, false
	s.wg.Add(1)
	go s.run(p)
}

// release closes partition p's connection, which has no bucket left; its goroutine then ends.
func (s *shards) release(p int, sub subscription) {
	s.mu.Lock()
	s.released[p] = true
	s.mu.Unlock()
	sub.close()
}

// stillWanted reports whether partition p's goroutine should (re)connect, and ends it if not.
func (s *shards) stillWanted(p int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.table.wanted(p) {
		s.running[p] = false
		return false
	}
	return true
}

func (s *shards) run(p int) {
	defer s.wg.Done()
	backoff := minBackoff
	var lost error // why the partition's last connection ended, if it was not released
	for s.stillWanted(p) {
		sub, err := s.dial(p)
		if err != nil {
			s.a.rlog.LogAt(slog.LevelWarn, "partition_dial", "redisadapter: cannot subscribe a partition", slog.Int("partition", p), slog.Any("err", err))
			s.a.reload.failed(err)
			if lost == nil {
				lost = err
			}
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			sub.close()
			return
		}
		s.subs[p], s.released[p] = sub, false
		s.mu.Unlock()
		s.table.attach(p, sub)
		if lost != nil {
			s.a.stats.reconnects.Add(1)
			s.a.rhost.HandleScopedGap(partitionScope{s.a.routes, p}, fmt.Errorf("redisadapter: partition %d resubscribed after: %w", p, lost))
		}
		backoff = minBackoff
		err = s.read(sub)
		sub.close()
		s.table.detach(p)
		s.mu.Lock()
		s.subs[p] = nil
		released, closed := s.released[p], s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		lost = nil
		if !released {
			lost = err
			s.a.log.Warn("redisadapter: partition subscription lost, resubscribing", slog.Int("partition", p), slog.Any("reason", err))
			if errors.Is(err, errSlotMoved) {
				s.a.reload.force()
			} else {
				s.a.reload.failed(err)
			}
		}
	}
}

// dial opens a connection to the master of partition p's slot, authenticated, not yet subscribed.
func (s *shards) dial(p int) (subscription, error) {
	ctx, cancel := context.WithTimeout(s.ctx, startTimeout)
	defer cancel()
	channel, _ := s.a.routes.channel(p) // bucket p is in partition p
	opt, err := rawOptions(ctx, s.a.client, channel)
	if err != nil {
		return nil, err
	}
	if opt == nil {
		return nil, errors.New("redisadapter: the client does not allow sharded subscriptions")
	}
	sub, err := dialRaw(ctx, opt, s.a.cfg.MaxMessageSize, nil)
	if err != nil {
		return nil, err
	}
	if err := sub.ready(ctx); err != nil {
		sub.close()
		return nil, err
	}
	return sub, nil
}

// read hands every event of a partition's connection on until it fails, is closed, falls silent (no
// answer to a PING for 1.5 ProbeIntervals), or the server unsubscribes one of its channels unasked.
func (s *shards) read(sub subscription) error {
	var seen atomic.Uint64
	var dead atomic.Pointer[error]
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.watch(sub, &seen, &dead, stop)
	}()
	defer func() {
		close(stop)
		<-watched
	}()
	for {
		ev, err := sub.receive()
		if err != nil {
			if d := dead.Load(); d != nil {
				return *d
			}
			return err
		}
		seen.Add(1)
		if ev.kind == evUnsubscribed {
			if b := s.a.routes.bucketOf(ev.channel); b >= 0 && !s.table.confirmed(b, false) {
				return errSlotMoved
			}
			continue
		}
		s.a.handleEvent(ev)
	}
}

// watch sends a PING every ProbeInterval and closes sub when nothing was read for 1.5 intervals.
func (s *shards) watch(sub subscription, seen *atomic.Uint64, dead *atomic.Pointer[error], stop <-chan struct{}) {
	interval := s.a.cfg.ProbeInterval
	tick := time.NewTicker(interval / 4)
	defer tick.Stop()
	var lastPing time.Time
	last, lastChange := seen.Load(), time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			if now.Sub(lastPing) >= interval {
				lastPing = now
				if err := sub.command("PING", nil); err != nil {
					sub.close()
					return
				}
			}
			if n := seen.Load(); n != last {
				last, lastChange = n, now
			}
			if silent := now.Sub(lastChange); silent > interval*3/2 {
				err := fmt.Errorf("%w for %v on a partition's connection", errProbeTimeout, silent.Round(time.Millisecond))
				dead.Store(&err)
				s.a.stats.probeFailures.Add(1)
				sub.close()
				return
			}
		}
	}
}

// close stops every partition's goroutine and closes its connection.
func (s *shards) close() {
	s.mu.Lock()
	s.closed = true
	s.cancel()
	for _, sub := range s.subs {
		if sub != nil {
			sub.close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// partitionScope is the scope of a gap on one partition: the topics of its buckets.
type partitionScope struct {
	routes *routes
	p      int
}

func (s partitionScope) Affects(topic string) bool {
	b := s.routes.route(topic)
	return b >= 0 && s.routes.partition(b) == s.p
}

func (s partitionScope) String() string { return "partition " + strconv.Itoa(s.p) }
