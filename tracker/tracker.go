package tracker

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/ratelog"
)

// Tracker is Phoenix.Tracker: presences tracked on any node are listed on every node, replicated
// through the PubSub as a conflict-free replicated data type. Make one with New; every method is safe
// for concurrent use.
type Tracker struct {
	ps     *pubsub.PubSub
	cfg    Config
	log    *slog.Logger
	shards []*shard
	owners *owners
	diffs  *diffQueue
	stats  counters

	inflight    atomic.Int64  // chunks granted to incoming transfer streams and not arrived (credit.go)
	chunkID     atomic.Uint64 // names the transfer streams sent
	chunkSlot   chan struct{} // one chunk of the tracker's streams is being published at a time
	sendTimeout time.Duration // bounds one gossip send
	dropLog     *ratelog.Log
	sendLog     *ratelog.Log

	closed    atomic.Bool
	closeOnce sync.Once
}

// Stats are a tracker's counters since it started.
type Stats struct {
	// DroppedGossip counts gossip messages dropped: malformed (not []byte, bad structure, bad delta or
	// extract), from a permdowned or older incarnation of a replica, transfers this shard did not ask for
	// (from a replica it does not know), heartbeats whose delta holds other replicas' changes, and
	// messages sent in this node's own name.
	DroppedGossip uint64
	// DroppedGossipByReason splits DroppedGossip (and refused parts of messages, such as removes of dots
	// their sender never saw) by reason: "malformed", "unasked_transfer", "too_many_replicas", ... Only
	// reasons that occurred are present. See docs/tracker.md for the list.
	DroppedGossipByReason map[string]uint64
	// SendErrors counts gossip that could not be sent (a gap peers repair by anti-entropy): sends that
	// failed, and messages dropped from a full outbox.
	SendErrors uint64
	// CoalescedHeartbeats counts heartbeats merged into the one still waiting to be sent (a slow or
	// stalled network).
	CoalescedHeartbeats uint64
	// CoalescedDiffs counts the times the Handler's queue went over MaxPendingDiffs and was coalesced into
	// net diffs.
	CoalescedDiffs uint64
	// StalledTransfers counts transfer streams abandoned for silence (docs/tracker.md, "Stalls end"):
	// sent ones whose receiver granted no credit (also counted in SendErrors), and received ones whose
	// sender sent no chunk, for max(2 s, 4 × BroadcastPeriod). The transfer is asked for again.
	StalledTransfers uint64
}

type counters struct {
	droppedGossip, sendErrors, outboxDropped, coalescedHeartbeats, coalescedDiffs, keepalives atomic.Uint64
	transfersStalled, oversizeHeartbeats                                                      atomic.Uint64
	dropped                                                                                   dropCounters
}

// New starts a tracker on ps. It validates cfg (errors wrap ErrInvalidConfig). The tracker is one replica
// per shard, named after ps.NodeName(), with a new version at every New: a restarted node is a new
// replica, and its peers discard the old one at its first heartbeat.
func New(ps *pubsub.PubSub, cfg Config) (*Tracker, error) {
	if ps == nil {
		return nil, fmt.Errorf("%w: nil PubSub", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Tracker{ps: ps, cfg: cfg, log: cfg.Logger.With(slog.String("tracker", cfg.Name), slog.String("node", ps.NodeName()))}
	t.chunkSlot = make(chan struct{}, 1)
	t.sendTimeout = min(max(cfg.BroadcastPeriod, 250*time.Millisecond), 5*time.Second)
	t.dropLog = ratelog.New(t.log, 10*time.Second)
	t.sendLog = ratelog.New(t.log, 10*time.Second)
	t.owners = newOwners(ps, t.ownerDone)
	t.diffs = newDiffQueue(cfg.Handler, t.log, cfg.MaxPendingDiffs, &t.stats.coalescedDiffs)
	for i := range cfg.PoolSize {
		s, err := newShard(t, i, newReplicaRef(ps.NodeName()))
		if err != nil {
			t.stop(context.Background(), false)
			return nil, fmt.Errorf("tracker: start shard %d: %w", i, err)
		}
		t.shards = append(t.shards, s)
	}
	return t, nil
}

// shardFor maps a topic to its shard with a hash that is the same on every node (FNV-1a).
func (t *Tracker) shardFor(topic string) *shard {
	if len(t.shards) == 1 {
		return t.shards[0]
	}
	h := fnv.New32a()
	h.Write([]byte(topic))
	return t.shards[h.Sum32()%uint32(len(t.shards))]
}

func (t *Tracker) check(o Owner, topic, key string) error {
	switch {
	case t.isClosed():
		return ErrClosed
	case o == nil:
		return fmt.Errorf("%w: nil owner", ErrInvalidArgument)
	case !reflect.TypeOf(o).Comparable():
		return fmt.Errorf("%w: owner of type %T is not comparable (use a pointer)", ErrInvalidArgument, o)
	case topic == "":
		return fmt.Errorf("%w: empty topic", ErrInvalidArgument)
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidArgument)
	}
	return nil
}

// Track tracks a presence of owner under key in topic, with meta (nil: none), and returns its ref
// ("phx_ref"), which reads show as Presence.Ref. The presence ends when Untrack removes it or owner is done.
// It returns ErrAlreadyTracked if owner already tracks key in topic, ErrInvalidArgument for bad input or
// metadata that cannot travel between nodes, and ErrClosed.
func (t *Tracker) Track(owner Owner, topic, key string, meta map[string]any) (string, error) {
	if err := t.check(owner, topic, key); err != nil {
		return "", err
	}
	s := t.shardFor(topic)
	md, err := packUserMeta(meta, &s.lastMeta)
	if err != nil {
		return "", err
	}
	ref := newRef()
	id := t.owners.acquire(owner)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		t.owners.release(owner, 1)
		return "", ErrClosed
	}
	v, ok := s.state.joinMeta(topic, id, key, md, ref)
	if !ok {
		s.mu.Unlock()
		t.owners.release(owner, 1)
		return "", fmt.Errorf("%w: owner %s, topic %q, key %q", ErrAlreadyTracked, id, topic, key)
	}
	diff := s.newDiff()
	s.record([]*value{v}, nil, diff)
	s.report(diff)
	s.mu.Unlock()
	s.changed()
	if isDone(owner) { // done before or while we tracked: its watch may have fired already
		t.UntrackAll(owner)
		return "", fmt.Errorf("%w: owner is done", ErrInvalidArgument)
	}
	return ref.String(), nil
}

// isDone reports whether o is done. Owners with an Err method (a *pubsub.Subscriber, a context.Context)
// are asked with it: a Subscriber's Done channel is made on first use, 100 bytes an owner kept for life.
func isDone(o Owner) bool {
	if e, ok := o.(interface{ Err() error }); ok {
		return e.Err() != nil
	}
	select {
	case <-o.Done():
		return true
	default:
		return false
	}
}

// prepareMeta copies meta, normalised as peers will decode it, into the form a value holds; the refs
// ("phx_ref", "phx_ref_prev") are the tracker's, so those keys of meta are ignored.
func prepareMeta(meta map[string]any) (metaEntries, error) {
	md, err := normalizeMetaData(meta)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return md, nil
}

// Untrack removes owner's presence under key in topic. Untracking what is not tracked is not an error.
// It returns ErrInvalidArgument for bad input and ErrClosed.
func (t *Tracker) Untrack(owner Owner, topic, key string) error {
	if err := t.check(owner, topic, key); err != nil {
		return err
	}
	id := t.owners.id(owner)
	if id == "" {
		return nil
	}
	s := t.shardFor(topic)
	s.mu.Lock()
	v, ok := s.state.leave(topic, id, key)
	if ok {
		diff := s.newDiff()
		s.record(nil, []*value{v}, diff)
		s.report(diff)
	}
	s.mu.Unlock()
	if ok {
		t.owners.release(owner, 1)
		s.changed()
	}
	return nil
}

// UntrackAll removes every presence of owner, in every topic. It returns ErrClosed after Close.
func (t *Tracker) UntrackAll(owner Owner) error {
	if t.isClosed() {
		return ErrClosed
	}
	if owner == nil {
		return fmt.Errorf("%w: nil owner", ErrInvalidArgument)
	}
	id := t.owners.id(owner)
	if id == "" {
		return nil
	}
	n := 0
	for _, s := range t.shards {
		s.mu.Lock()
		vs := s.state.leaveOwner(id)
		if len(vs) > 0 {
			diff := s.newDiff()
			s.record(nil, vs, diff)
			s.report(diff)
		}
		s.mu.Unlock()
		if len(vs) > 0 {
			n += len(vs)
			s.changed()
		}
	}
	t.owners.release(owner, n)
	return nil
}

// ownerDone is called when an owner is done: its presences end, on every node.
func (t *Tracker) ownerDone(o Owner) {
	if err := t.UntrackAll(o); err != nil && !errors.Is(err, ErrClosed) {
		t.log.Warn("tracker: untrack of a finished owner failed", slog.Any("err", err))
	}
}

// Update replaces the meta of owner's presence under key in topic, and returns the new ref. The presence
// then has a new Ref and, as RefPrev ("phx_ref_prev"), the old one; the handler sees a leave of the old meta and a
// join of the new one. It returns ErrNoPresence if nothing is tracked there, ErrInvalidArgument and
// ErrClosed.
func (t *Tracker) Update(owner Owner, topic, key string, meta map[string]any) (string, error) {
	return t.UpdateFunc(owner, topic, key, func(map[string]any) map[string]any { return meta })
}

// UpdateFunc is Update with the new meta computed from the current one (its Presence.Meta, without the
// refs; fn gets a copy it may modify and return). fn runs outside the
// tracker's locks; if the presence changed meanwhile, fn runs again on the new meta. A panic in fn is
// returned as an error and changes nothing.
func (t *Tracker) UpdateFunc(owner Owner, topic, key string, fn func(old map[string]any) map[string]any) (string, error) {
	if err := t.check(owner, topic, key); err != nil {
		return "", err
	}
	if fn == nil {
		return "", fmt.Errorf("%w: nil update function", ErrInvalidArgument)
	}
	id := t.owners.id(owner)
	s := t.shardFor(topic)
	for {
		s.mu.Lock()
		old := s.state.lookup(topic, id, key)
		s.mu.Unlock()
		if id == "" || old == nil {
			return "", fmt.Errorf("%w: topic %q, key %q", ErrNoPresence, topic, key)
		}
		newMeta, err := callUpdate(fn, old.freshUserMeta())
		if err != nil {
			return "", err
		}
		md, err := prepareMeta(newMeta)
		if err != nil {
			return "", err
		}
		s.mu.Lock()
		if s.state.lookup(topic, id, key) != old { // changed while fn ran: again, on the new meta
			s.mu.Unlock()
			continue
		}
		if old.ref.ok {
			md = md.with(MetaRefPrev, old.ref.String())
		}
		ref := newRef()
		prevV, v, _ := s.state.leaveJoinMeta(topic, id, key, packMeta(md), ref)
		diff := s.newDiff()
		s.record([]*value{v}, []*value{prevV}, diff)
		s.report(diff)
		s.mu.Unlock()
		s.changed()
		return ref.String(), nil
	}
}

func callUpdate(fn func(map[string]any) map[string]any, old map[string]any) (m map[string]any, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("tracker: update function panicked: %v", v)
		}
	}()
	return fn(old), nil
}

// List returns the presences in topic on every node whose replica is up, as a fresh slice. It never
// waits for merges or handlers. Order is unspecified.
func (t *Tracker) List(topic string) []Presence {
	return t.shardFor(topic).views.list(topic)
}

// GetByKey returns the presences tracked under key in topic (one per owner, on any node).
func (t *Tracker) GetByKey(topic, key string) []Presence {
	return t.shardFor(topic).views.getByKey(topic, key)
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats {
	return Stats{
		DroppedGossip:         t.stats.droppedGossip.Load(),
		DroppedGossipByReason: t.stats.dropped.snapshot(),
		SendErrors:            t.stats.sendErrors.Load(),
		CoalescedHeartbeats:   t.stats.coalescedHeartbeats.Load(),
		CoalescedDiffs:        t.stats.coalescedDiffs.Load(),
		StalledTransfers:      t.stats.transfersStalled.Load(),
	}
}

// GracefulPermdown tells every replica that this one is gone for good, so that its presences leave
// every node at once instead of after DownPeriod, and then closes the tracker (Phoenix's
// graceful_permdown; memberlist's Leave). It returns within ctx, whatever the transport does (a Redis
// black hole included). It returns ErrClosed when the tracker (or its PubSub) was closed already, and
// otherwise the reason the announcement was not sent, such as ctx's error (the tracker is closed all the
// same, and peers then notice the silence after DownPeriod).
func (t *Tracker) GracefulPermdown(ctx context.Context) error {
	if t.isClosed() {
		return ErrClosed
	}
	return t.stop(ctx, true)
}

// Close stops the tracker like a crash: nothing is announced, and peers remove this node's presences
// after DownPeriod (clients reconnecting to another node meanwhile see no leave and join flood). Use
// GracefulPermdown to leave at once. Close waits for neither the network (the send in flight is
// cancelled) nor a shard busy merging a large transfer: it returns within a second. It is idempotent and
// returns nil.
func (t *Tracker) Close() error {
	t.stop(context.Background(), false)
	return nil
}

// isClosed reports whether the tracker, or the PubSub it replicates through, is closed: the tracker
// follows its PubSub, since it can neither send nor receive without it.
func (t *Tracker) isClosed() bool {
	if t.closed.Load() {
		return true
	}
	select {
	case <-t.ps.Done():
		return true
	default:
		return false
	}
}

func (t *Tracker) stop(ctx context.Context, permdown bool) error {
	var err error
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		errs := make([]error, len(t.shards))
		var wg sync.WaitGroup
		for i, s := range t.shards {
			wg.Go(func() { errs[i] = s.stop(ctx, permdown) })
		}
		wg.Wait()
		t.owners.close()
		t.diffs.close()
		err = errors.Join(errs...)
	})
	return err
}
