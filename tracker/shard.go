package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/pubsub"
)

// shard is one independent replica group: Phoenix's Tracker.Shard. Its state is guarded by mu; local
// operations take mu in the caller's goroutine, and the shard's own goroutine takes it for heartbeats,
// gossip and failure detection. Gossip is queued in the outbox under mu, and encoded and sent by the
// outbox's goroutine: neither Track nor the shard's goroutine ever waits for the network. Incoming gossip
// is decoded before mu is taken. Reads go to views and never take mu.
type shard struct {
	t     *Tracker
	topic string // the gossip topic
	sub   *pubsub.Subscriber
	views *views
	flush chan struct{} // a local change is waiting to be gossiped
	// flushing is set by the change that signals flush, and cleared when the delta is taken: the
	// changes in between do not signal (each would wake the shard's goroutine for nothing).
	flushing atomic.Bool
	// lastMeta is the meta box of the shard's last Track with scalar meta: the next one with equal meta
	// shares it (packMetaReusing).
	lastMeta atomic.Pointer[metaBox]
	done     chan struct{}
	wg       sync.WaitGroup
	ob       *outbox
	// streams are the transfer streams being received, by sender name (stream_in.go); the shard's
	// goroutine alone uses them.
	streams map[string]*inStream

	mu    sync.Mutex
	state *state
	// gens are used by the shard's goroutine alone, under mu but for the push of an own delta (see
	// takeDeltaHeartbeat). That push reads the state's permdown tombstones and its delta pointer, which
	// only that goroutine changes (takeDelta, renew, permdown); local changes only fill the delta.
	gens          *deltaGenerations
	peers         map[string]*peer // by node name
	silentPeriods int
	sampleCount   int
	pendingClocks []clockEntry
	gapPending    bool
	lastDropped   uint64
	closed        bool
	// forgotten tracks the nodes whose heartbeats leave our ref out of their clocks (see noteClocks), and
	// beats counts the heartbeats we sent, as evidence that they could have heard us.
	forgotten map[string]*forgetting
	beats     uint64
	lastTick  time.Time
	judgeFrom time.Time // no down detection before (after a stall of the shard itself)
	// self is the state's own ref, readable without mu (stop needs it while a merge holds mu).
	self atomic.Pointer[replicaRef]
	// stall, when not nil, is called by the shard's goroutine before each tick (tests stall the shard with
	// it, as a long merge would). Set before the shard runs, or under mu.
	stall func()
}

// forgetting is a streak of heartbeats from one node (whatever its incarnation: a node that renewed may
// still refuse us) that leave our ref out of their clocks.
type forgetting struct {
	since time.Time // the first heartbeat of the streak
	last  time.Time // the latest
	beats uint64    // our heartbeats sent before the streak began
	sent  time.Time // when we first knew that we had sent a heartbeat since the streak began
}

type peer struct {
	ref      replicaRef
	last     time.Time // last heartbeat
	up       bool
	asked    time.Time // when we last asked it for a transfer
	pending  int       // transfers asked of it and not answered yet (within askWindow of asked)
	answered time.Time // when we last answered its transfer request
	// ahead is the highest clock of its own its heartbeats have shown: when we hold less once its
	// answer has merged, we ask again at once (askIfBehind).
	ahead uint64
	// answeredOwn is our own clock in its request when we last answered it: a request showing more has
	// merged that answer (handleTransferReq).
	answeredOwn uint64
}

func newShard(t *Tracker, i int, ref replicaRef) (*shard, error) {
	s := &shard{
		t:             t,
		topic:         fmt.Sprintf("phx_presence:%s_shard%d", t.cfg.Name, i),
		views:         newViews(),
		flush:         make(chan struct{}, 1),
		done:          make(chan struct{}),
		state:         newState(ref),
		gens:          newDeltaGenerations(t.cfg.MaxDeltaSizes),
		peers:         make(map[string]*peer),
		forgotten:     make(map[string]*forgetting),
		silentPeriods: t.cfg.MaxSilentPeriods, // the first tick always sends a heartbeat
		sampleCount:   t.cfg.ClockSamplePeriods,
		streams:       make(map[string]*inStream),
	}
	sub, err := t.ps.NewSubscriber(pubsub.WithMailboxSize(gossipMailbox))
	if err != nil {
		return nil, err
	}
	s.sub = sub
	for _, topic := range []string{s.topic, pubsub.GapTopic} {
		if err := sub.Subscribe(topic); err != nil {
			sub.Close() // nothing else holds it yet
			return nil, err
		}
	}
	s.self.Store(&ref)
	s.ob = newOutbox(s)
	s.wg.Add(1)
	go s.run()
	return s, nil
}

// gossipMailbox is large: a dropped gossip message is survivable (anti-entropy repairs it, and a drop is
// treated like a gap) but costs a transfer.
const gossipMailbox = 1 << 14

// eagerInterval spaces the eager deltas of a burst of local changes: the first change of a quiet
// shard is gossiped at once, later ones at most once per interval, together. Without it every change
// of a burst became its own delta, each merged into the delta generations (which copies them): most of
// Track's cost. A millisecond is nothing next to the heartbeat, and a burst's delta stays small.
const eagerInterval = time.Millisecond

func (s *shard) run() {
	defer s.wg.Done()
	tick := time.NewTicker(s.t.cfg.BroadcastPeriod)
	defer tick.Stop()
	var lastEager time.Time
	eager := time.NewTimer(time.Hour)
	eager.Stop()
	eagerArmed := false
	s.announceStart()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
			s.mu.Lock()
			stall := s.stall
			s.mu.Unlock()
			if stall != nil {
				stall()
			}
			s.tick(time.Now())
		case <-s.flush:
			if eagerArmed {
				break // the trailing flush will take this change too
			}
			if wait := eagerInterval - time.Since(lastEager); wait > 0 {
				eager.Reset(wait)
				eagerArmed = true
				break
			}
			lastEager = time.Now()
			s.takeDeltaHeartbeat()
		case <-eager.C:
			eagerArmed = false
			lastEager = time.Now()
			s.takeDeltaHeartbeat()
		case msg, ok := <-s.sub.C():
			if !ok {
				return
			}
			s.receive(msg)
		}
	}
}

// announceStart sends the shard's first heartbeat as it starts, rather than one BroadcastPeriod later:
// peers greet a replica they hear for the first time at once (see greet), so a new node asks for their
// state within a round trip of its start.
func (s *shard) announceStart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.heartbeat(nil)
	s.silentPeriods = 0
}

// changed is called after a local change (and after mu is released): the shard gossips it at once
// rather than at the next tick. Only the first change since the delta was last taken signals: the
// others will be taken with it.
func (s *shard) changed() {
	if s.flushing.Load() || !s.flushing.CompareAndSwap(false, true) {
		return
	}
	select {
	case s.flush <- struct{}{}:
	default:
	}
}

// push queues gossip in the outbox. mu held, so gossip leaves in the order it was made.
func (s *shard) push(m outMsg) { s.ob.push(m) }

// heartbeat queues a heartbeat carrying d (nil: an empty heartbeat). mu held.
func (s *shard) heartbeat(d *delta) {
	s.beats++
	g := gossip{kind: gossipHeartbeat}
	g.from, g.clocks = s.state.clocks()
	s.push(outMsg{g: g, d: d})
}

// takeDeltaHeartbeat queues the pending local delta, if any, as a heartbeat. The delta goes into the
// generations after mu is released (unless they are empty, and are seeded from the state): only the
// shard's goroutine uses the generations, and a burst of Tracks need not wait for the merge (which was
// a third of their time).
func (s *shard) takeDeltaHeartbeat() {
	s.flushing.Store(false) // before the delta is taken: a change made after it signals again
	s.mu.Lock()
	if s.closed || !s.state.hasDelta() {
		s.mu.Unlock()
		return
	}
	d := s.state.takeDelta()
	s.silentPeriods = 0
	s.heartbeat(d)
	if len(s.gens.gens) == 0 { // push reads the state to seed them
		s.pushGeneration(d)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.pushGeneration(d)
}

// deltaHeartbeat takes the delta, records it in the generations and queues it. mu held.
func (s *shard) deltaHeartbeat() {
	d := s.state.takeDelta()
	s.pushGeneration(d)
	s.silentPeriods = 0
	s.heartbeat(d)
}

// pushGeneration records a delta (own or merged) in the generations. A delta larger than the largest
// generation cannot fit in any window, and merging it into each (Phoenix's push) copies it three times for
// windows that are all over their caps: the generations are reset instead, and until they fill again a
// transfer request is answered with the full state, as it would be in effect. mu held.
func (s *shard) pushGeneration(d *delta) {
	if d.size() > s.t.cfg.MaxDeltaSizes[len(s.t.cfg.MaxDeltaSizes)-1] {
		s.gens.reset()
		return
	}
	s.gens.push(s.state, d)
}

// tick is Phoenix's heartbeat tick: gossip the delta (or an empty heartbeat when silent for too long),
// sample clocks and request transfers, detect down and permdown replicas.
func (s *shard) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.renewIfForgotten(now)
	switch {
	case s.state.hasDelta():
		s.deltaHeartbeat()
	case s.silentPeriods >= s.t.cfg.MaxSilentPeriods:
		s.heartbeat(nil)
		s.silentPeriods = 0
	default:
		s.silentPeriods++
	}
	if dropped := s.sub.Dropped(); dropped != s.lastDropped { // our own mailbox dropped gossip
		s.lastDropped = dropped
		s.gapPending = true
	}
	if s.gapPending {
		s.gapPending = false
		s.requestFromAll(now)
	} else if s.sampleCount <= 1 {
		s.requestTransfers(now)
		s.sampleCount = s.t.cfg.ClockSamplePeriods
	} else {
		s.sampleCount--
	}
	diff := s.newDiff()
	// A shard that was itself stalled (a large merge holds its goroutine) has not read the heartbeats
	// waiting in its mailbox: it judges its peers a BroadcastPeriod later, not at this tick (nor at the
	// tick the ticker kept for it meanwhile).
	if !s.lastTick.IsZero() && now.Sub(s.lastTick) > 2*s.t.cfg.BroadcastPeriod {
		s.judgeFrom = now.Add(s.t.cfg.BroadcastPeriod)
	}
	s.lastTick = now
	if !now.Before(s.judgeFrom) {
		s.detectDown(now, diff)
	}
	s.state.expirePermdowned(now.Add(-s.t.cfg.PermdownPeriod))
	s.state.trimPermdowned(maxTombstones * s.t.cfg.MaxReplicas)
	s.report(diff)
	s.expireStreams(now)
}

// maxTombstones × MaxReplicas bounds the permdown tombstones a shard keeps (the oldest go first).
const maxTombstones = 4

// maxPendingAsks bounds the unanswered transfer requests a peer may answer.
const maxPendingAsks = 4

// askWindow is how long after asking a peer for a transfer its answer is accepted.
func (s *shard) askWindow() time.Duration { return max(s.t.cfg.DownPeriod, 10*time.Second) }

// requestTransfers sends a transfer request to each replica whose clock, sampled from heartbeats, is
// not dominated by another's or ours (Phoenix's clock sampling). mu held.
func (s *shard) requestTransfers(now time.Time) {
	ref, clocks := s.state.clocks()
	set := appendClock(s.pendingClocks, clockEntry{replica: ref, context: clocks})
	s.pendingClocks = nil
	var names []string
	for _, e := range set {
		if e.replica != ref {
			names = append(names, e.replica.Name)
		}
	}
	s.request(now, names)
}

// requestFromAll asks every replica that is up for what we may have missed (after a gap). mu held.
func (s *shard) requestFromAll(now time.Time) {
	var names []string
	for name, p := range s.peers {
		if p.up {
			names = append(names, name)
		}
	}
	s.request(now, names)
}

// request asks the named peers for a transfer: one request, encoded once. mu held.
func (s *shard) request(now time.Time, names []string) {
	if len(names) == 0 {
		return
	}
	ref, clocks := s.state.clocks()
	b, err := encodeGossip(gossip{kind: gossipTransferReq, from: ref, clocks: clocks})
	if err != nil {
		s.t.log.Error("tracker: cannot encode a transfer request", slog.Any("err", err))
		return
	}
	for _, name := range names {
		if s.streams[name] != nil {
			continue // its answer is arriving: asking again would only make it start over
		}
		if p := s.peers[name]; p != nil {
			p.asked = now
			p.pending = min(p.pending+1, maxPendingAsks)
			s.push(outMsg{node: name, raw: b})
		}
	}
}

// detectDown marks replicas silent for DownPeriod down and discards those silent for PermdownPeriod.
func (s *shard) detectDown(now time.Time, diff diffBuilder) {
	for name, p := range s.peers {
		silent := now.Sub(p.last)
		switch {
		case silent > s.t.cfg.PermdownPeriod:
			s.permdown(p, diff)
			delete(s.peers, name)
		case silent > s.t.cfg.DownPeriod && p.up:
			s.down(p, diff)
		}
	}
}

func (s *shard) down(p *peer, diff diffBuilder) {
	p.up = false
	leaves := s.state.replicaDown(p.ref)
	s.record(nil, leaves, diff)
	s.t.log.Info("tracker: replica down", slog.String("replica", p.ref.String()), slog.String("topic", s.topic))
}

func (s *shard) permdown(p *peer, diff diffBuilder) {
	if p.up {
		s.down(p, diff)
	}
	s.state.removeDownReplica(p.ref, time.Now())
	s.gens.removeDownReplica(p.ref)
	s.t.log.Info("tracker: replica permdown", slog.String("replica", p.ref.String()), slog.String("topic", s.topic))
}

// newDiff returns a diff for record to fill, or nil (which record leaves empty) when the tracker has
// no Handler: then a change costs no diff at all.
func (s *shard) newDiff() diffBuilder {
	if s.t.cfg.Handler == nil {
		return nil
	}
	return diffBuilder{}
}

// record applies joins and leaves to the views and adds them to diff (unless it is nil). mu held.
func (s *shard) record(joins, leaves []*value, diff diffBuilder) {
	if len(joins) >= batchJoins {
		s.views.apply(nil, leaves)
		if diff != nil {
			for _, v := range leaves {
				diff.leave(v)
			}
		}
		for topic, vals := range groupByTopic(joins) {
			s.views.joinTopic(topic, vals)
			if diff != nil {
				d := diff.topic(topic)
				d.joins = append(d.joins, vals...)
			}
		}
		return
	}
	s.views.apply(joins, leaves)
	if diff == nil {
		return
	}
	for _, v := range leaves {
		diff.leave(v)
	}
	for _, v := range joins {
		diff.join(v)
	}
}

// report hands a diff to the handler queue. mu held, so diffs queue in the order of the changes.
func (s *shard) report(diff diffBuilder) {
	if len(diff) > 0 {
		s.t.diffs.push(diff)
	}
}

// receive handles one message of the shard's subscriber: gossip, or a gap announced by the PubSub.
func (s *shard) receive(msg pubsub.Message) {
	if msg.Topic == pubsub.GapTopic {
		if g, ok := msg.Payload.(pubsub.Gap); ok && !g.Affects(s.topic) {
			return // a loss on topics other than this shard's gossip (a routed bucket's, say)
		}
		// Ask every peer at once, and again at the next tick: a peer whose own reconnect is not done
		// yet misses the first request. Streams being received may have lost chunks: they start over.
		s.endStreams()
		s.mu.Lock()
		if !s.closed {
			s.requestFromAll(time.Now())
			s.gapPending = true
		}
		s.mu.Unlock()
		return
	}
	b, ok := msg.Payload.([]byte)
	if !ok {
		s.t.drop(dropNotBytes, nil)
		return
	}
	g, err := decodeGossip(b)
	if err != nil {
		s.t.drop(dropMalformed, err)
		return
	}
	switch g.kind {
	case gossipChunk:
		s.receiveChunk(g, time.Now())
	case gossipCredit:
		s.receiveCredit(g)
	case gossipTransferPart:
		s.t.drop(dropMalformed, errors.New("tracker: a part of a full state outside a stream"))
	default:
		s.handle(g, false)
	}
}

// receiveCredit hands credit from a stream's receiver to the outbox.
func (s *shard) receiveCredit(g gossip) {
	id, granted, err := decodeCredit(g.body)
	if err != nil {
		s.t.drop(dropMalformed, err)
		return
	}
	s.ob.credit(g.from.Name, id, granted)
}

// ref returns the shard's replica ref.
func (s *shard) ref() replicaRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.ref()
}

// handle handles one gossip message (whole). Bodies are decoded before mu is taken; a transfer's
// sender is checked first, so that unasked bodies are not even decoded. asked says that the sender of a
// chunked transfer was checked when its first chunk arrived.
func (s *shard) handle(g gossip, asked bool) {
	if len(g.clocks) > s.t.cfg.MaxReplicas+1 {
		s.t.drop(dropTooManyClocks, nil)
		return
	}
	now := time.Now()
	if (g.kind == gossipTransferDelta || g.kind == gossipTransferExtract) && !asked {
		s.mu.Lock()
		reason, ok := s.acceptsTransfer(g.from, now)
		s.mu.Unlock()
		if !ok {
			s.t.drop(reason, nil)
			return
		}
	}
	var d *delta
	var x *extract
	var err error
	switch {
	case g.kind == gossipTransferExtract:
		x, err = unmarshalExtract(g.body)
	case g.body != nil:
		d, err = unmarshalDelta(g.body)
	}
	if err != nil {
		s.t.drop(dropMalformed, err)
		return
	}
	if g.kind == gossipHeartbeat && d != nil {
		// A heartbeat carries its sender's own changes: its range is the sender's clock alone.
		if _, ok := d.end[g.from]; !ok || len(d.end) != 1 {
			s.t.drop(dropForeignDelta, nil)
			return
		}
		if n := stripUnseenRemoves(d, g.from, g.clocks); n > 0 {
			s.t.drop(dropUnseenRemove, fmt.Errorf("tracker: %d removes of dots %v never saw", n, g.from))
		}
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if g.from.Name == s.state.ref().Name { // never our own (the PubSub does not echo), so another node claims our name
		s.mu.Unlock()
		s.t.drop(dropOwnName, nil)
		return
	}
	reason := dropReason(-1)
	diff := s.newDiff()
	switch g.kind {
	case gossipHeartbeat:
		if reason = s.handleHeartbeat(g, d, diff, now); reason < 0 || reason == dropPermdowned {
			s.noteClocks(g, now)
		}
	case gossipTransferReq:
		reason = s.handleTransferReq(g, now)
	case gossipTransferDelta, gossipTransferExtract:
		if p := s.peers[g.from.Name]; p == nil || p.ref != g.from {
			reason = dropUnasked // permdowned while it was decoded or assembled
			break
		}
		s.handleTransferAck(d, x, diff)
		s.askAgainIfBehind(s.peers[g.from.Name], now)
	case gossipPermdown:
		if p := s.peers[g.from.Name]; p != nil && p.ref == g.from {
			s.permdown(p, diff)
			delete(s.peers, g.from.Name)
		} else if s.state.isPermdowned(g.from) {
			reason = dropPermdowned
		}
	}
	s.report(diff)
	s.mu.Unlock()
	if reason >= 0 {
		s.t.drop(reason, nil)
	}
}

// acceptsTransfer reports whether a transfer from a replica answers a request of ours, recent and not
// answered yet, and counts it as answered if so. mu held.
func (s *shard) acceptsTransfer(from replicaRef, now time.Time) (dropReason, bool) {
	p := s.peers[from.Name]
	switch {
	case p != nil && p.ref == from && p.pending > 0 && now.Sub(p.asked) <= s.askWindow():
		p.pending--
		return 0, true
	case s.state.isPermdowned(from):
		return dropPermdowned, false
	}
	return dropUnasked, false
}

// stripUnseenRemoves removes from a heartbeat's delta the removes of other replicas' dots that its
// sender's own clocks show it never saw (a replica removes another's value only after merging it), and
// returns how many it removed. Such removes are forged: they would erase presences their owner still
// has. A sender that saw a dot only in its cloud (not yet contiguous) loses its remove here; the owner's
// own delta carries it anyway.
func stripUnseenRemoves(d *delta, from replicaRef, clocks causalContext) int {
	n := 0
	for ref, cloud := range d.clouds {
		if ref == from {
			continue
		}
		seen := clocks[ref]
		for c := range cloud {
			if c > seen {
				delete(cloud, c)
				n++
			}
		}
		if len(cloud) == 0 {
			delete(d.clouds, ref)
		}
	}
	return n
}

// handleHeartbeat is Phoenix's handle_heartbeat followed by the merge of the heartbeat's delta d (nil
// for an empty heartbeat). It returns why it refused the heartbeat, or -1. mu held.
func (s *shard) handleHeartbeat(g gossip, d *delta, diff diffBuilder, now time.Time) dropReason {
	if s.state.isPermdowned(g.from) {
		return dropPermdowned
	}
	p := s.peers[g.from.Name]
	switch {
	case p == nil:
		if len(s.peers) >= s.t.cfg.MaxReplicas {
			return dropTooManyReplicas
		}
		p = &peer{ref: g.from}
		s.peers[g.from.Name] = p
		s.up(p, diff)
		s.greet(p, g, now)
	case p.ref != g.from: // a new incarnation of the node: the old one is gone for good
		if g.from.Vsn < p.ref.Vsn {
			return dropPermdowned // a late heartbeat of the old incarnation
		}
		s.permdown(p, diff)
		p = &peer{ref: g.from}
		s.peers[g.from.Name] = p
		s.up(p, diff)
		s.greet(p, g, now)
	case !p.up:
		s.up(p, diff)
	}
	p.last = now
	if d != nil {
		joins, leaves := s.state.mergeDelta(d)
		s.record(joins, leaves, diff)
		s.pushGeneration(d)
	}
	s.pendingClocks = appendClock(s.pendingClocks, clockEntry{replica: g.from, context: g.clocks})
	s.askIfBehind(p, g, now)
	return -1
}

// askIfBehind asks a replica for a transfer at once when its heartbeat shows changes of its own that we
// lack (a delta we missed, or one too large to broadcast: see outbox), rather than at the next clock
// sample. mu held.
func (s *shard) askIfBehind(p *peer, g gossip, now time.Time) {
	p.ahead = max(p.ahead, g.clocks[g.from])
	s.askAgainIfBehind(p, now)
}

// askAgainIfBehind asks p for a transfer if its heartbeats showed changes of its own that we still lack,
// unless a request to it is outstanding or its answer is arriving (request skips those). It runs after
// each heartbeat and after each transfer from p has merged, so that changes made while an answer was on
// its way (a burst of Tracks whose eager deltas outgrew MaxGossipSize) are asked for as soon as that
// answer is in, not at the next clock sample (ClockSamplePeriods later). mu held.
func (s *shard) askAgainIfBehind(p *peer, now time.Time) {
	r := s.state.replicas[p.ref]
	if r == nil || p.ahead <= r.clock || (p.pending > 0 && now.Sub(p.asked) <= s.askWindow()) {
		return
	}
	s.request(now, []string{p.ref.Name})
}

// greet answers the first heartbeat of a replica: a heartbeat at once, so that it learns of us without
// waiting for our next one (an idle shard's comes every MaxSilentPeriods+1 ticks), and, if its clocks
// hold what we lack, a transfer request at once rather than at the next clock sample. A request goes
// after a heartbeat of ours (the peer answers only replicas it knows). mu held.
func (s *shard) greet(p *peer, g gossip, now time.Time) {
	s.heartbeat(nil)
	s.silentPeriods = 0
	_, own := s.state.clocks()
	if !dominates(own, withoutRef(g.clocks, s.state.ref())) {
		s.request(now, []string{p.ref.Name})
	}
}

// withoutRef returns c without ref (a fresh map only if ref is in it).
func withoutRef(c causalContext, ref replicaRef) causalContext {
	if _, ok := c[ref]; !ok {
		return c
	}
	out := maps.Clone(c)
	delete(out, ref)
	return out
}

func (s *shard) up(p *peer, diff diffBuilder) {
	joins, ok := s.state.replicaUp(p.ref)
	if !ok {
		return
	}
	p.up = true
	s.record(joins, nil, diff)
	s.t.log.Info("tracker: replica up", slog.String("replica", p.ref.String()), slog.String("topic", s.topic))
}

// noteClocks records whether a heartbeat's clocks include our ref. Clocks leave out the replicas their
// sender holds down or has permdowned, and a replica that hears us brings us back up at once, unless it
// permdowned us (a netsplit longer than PermdownPeriod): then it refuses our ref for good. Heartbeats of
// permdowned replicas count too, since after a long split both sides permdowned each other. mu held.
func (s *shard) noteClocks(g gossip, now time.Time) {
	self := s.state.ref()
	if _, ok := g.clocks[self]; ok {
		delete(s.forgotten, g.from.Name)
		return
	}
	f := s.forgotten[g.from.Name]
	if f == nil {
		f = &forgetting{since: now, beats: s.beats}
		s.forgotten[g.from.Name] = f
	}
	if f.sent.IsZero() && s.beats > f.beats {
		f.sent = now
	}
	f.last = now
}

// renewIfForgotten renews our replica (state.renew: a new ref, same presences) when a node keeps leaving
// us out of its clocks for longer than DownPeriod, although it heard from us at least a BroadcastPeriod
// before its latest heartbeat: it has permdowned us, and will accept only a new incarnation, which it
// takes, like any restart, at its first heartbeat. Streaks of replicas gone silent are forgotten. mu held.
func (s *shard) renewIfForgotten(now time.Time) {
	for name, f := range s.forgotten {
		switch {
		case now.Sub(f.last) > s.t.cfg.DownPeriod:
			delete(s.forgotten, name)
		case !f.sent.IsZero() && f.last.Sub(f.sent) >= s.t.cfg.BroadcastPeriod && f.last.Sub(f.since) > s.t.cfg.DownPeriod:
			old := s.state.ref()
			leaves, joins := s.state.renew(newReplicaRef(old.Name), now)
			ref := s.state.ref()
			s.self.Store(&ref)
			s.gens.removeDownReplica(old)
			s.views.replace(leaves, joins)
			clear(s.forgotten)
			s.pendingClocks = nil
			s.t.log.Warn("tracker: peers have permdowned this replica (a netsplit longer than PermdownPeriod?): it goes on as a new replica",
				slog.String("topic", s.topic), slog.String("old", old.String()), slog.String("new", s.state.ref().String()),
				slog.String("forgotten_by", name))
			return
		}
	}
}

// handleTransferReq answers with the smallest delta generation that covers what the requester lacks,
// or with the full state, encoded and sent by the outbox. Only replicas we know are answered, never while
// an answer to them is still being sent, and at most once per BroadcastPeriod each, unless the request
// shows that the previous answer merged (its clock of ours grew since) or can be answered from the
// generations (bounded by MaxDeltaSizes): a replica that asks again as soon as an answer merged
// (askAgainIfBehind) lacks only what changed while that answer travelled, and waiting a period for it
// made a burst of Tracks reach peers seconds late. A requester is thus answered at most as fast as it
// takes in what it was sent (one answer at a time, each under its credit). mu held.
func (s *shard) handleTransferReq(g gossip, now time.Time) dropReason {
	p := s.peers[g.from.Name]
	switch {
	case s.state.isPermdowned(g.from):
		return dropPermdowned
	case p == nil || p.ref != g.from:
		return dropUnknownRequester
	case s.ob.answering(g.from.Name):
		return dropRequestRate
	}
	// Its clock of ours, believed only up to what we have: a larger claim is a forgery, not progress.
	claimed := min(g.clocks[s.state.ref()], s.state.self.clock)
	if !p.answered.IsZero() && now.Sub(p.answered) < s.t.cfg.BroadcastPeriod &&
		claimed <= p.answeredOwn && s.gens.covering(g.clocks) == nil {
		return dropRequestRate
	}
	p.answered, p.answeredOwn = now, claimed
	d, x := s.gens.extract(s.state, g.from, g.clocks)
	ack := gossip{kind: gossipTransferDelta, from: s.state.ref()}
	if d == nil {
		ack.kind = gossipTransferExtract
	}
	s.push(outMsg{node: g.from.Name, g: ack, d: d, x: x})
	return -1
}

// handleTransferAck merges a transfer. A full state resets the generations, as in Phoenix. mu held.
func (s *shard) handleTransferAck(d *delta, x *extract, diff diffBuilder) {
	if x != nil {
		joins, leaves := s.state.mergeExtract(x)
		s.record(joins, leaves, diff)
		s.gens.reset()
		return
	}
	joins, leaves := s.state.mergeDelta(d)
	s.record(joins, leaves, diff)
	s.pushGeneration(d)
}

// stop stops the shard; with permdown it first announces to every replica that this one is gone for
// good, within ctx, and returns why the announcement was not sent, if it was not. The shard's goroutine
// never waits for the network, and the send in flight in the outbox is cancelled, so stop returns at
// once without permdown, and within ctx with it.
func (s *shard) stop(ctx context.Context, permdown bool) error {
	// The shard's lock may be held by a merge of a large transfer for seconds: close it when the merge
	// lets go, without waiting for that here.
	go func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}()
	ref := *s.self.Load()
	close(s.done)
	stopped := make(chan struct{})
	go func() { // in parallel with the rest: everything ends within outboxStopWait, or ctx
		s.ob.stop(ctx, outboxStopWait)
		close(stopped)
	}()
	defer func() { <-stopped }()
	s.awaitRun(ctx)
	var err error
	if permdown {
		var b []byte
		if b, err = encodeGossip(gossip{kind: gossipPermdown, from: ref, clocks: causalContext{}}); err == nil {
			err = s.announce(ctx, b)
		}
		if err != nil {
			err = fmt.Errorf("tracker: graceful permdown not announced on %s: %w", s.topic, err)
			s.t.log.Warn("tracker: graceful permdown not sent", slog.Any("err", err))
		}
	}
	s.sub.Close()
	return err
}

// awaitRun waits for the shard's goroutine to return, at most outboxStopWait and not after ctx ends: it
// never waits for the network, but a merge of a large transfer holds it for seconds, and Close must not.
// Once closed, the goroutine changes nothing visible, and returns at the end of its merge.
func (s *shard) awaitRun(ctx context.Context) {
	ran := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(ran)
	}()
	t := time.NewTimer(outboxStopWait)
	defer t.Stop()
	select {
	case <-ran:
	case <-t.C:
		s.t.log.Warn("tracker: a shard is still merging; closing without waiting for it", slog.String("topic", s.topic))
	case <-ctx.Done():
	}
}

// announce broadcasts b within ctx, even over a transport that ignores its context: the send then
// finishes on its own goroutine, after announce returned.
func (s *shard) announce(ctx context.Context, b []byte) error {
	res := make(chan error, 1)
	go func() { res <- s.t.ps.BroadcastFrom(ctx, s.sub, s.topic, b) }()
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// outboxStopWait bounds how long stop waits for a cancelled send to return.
const outboxStopWait = 500 * time.Millisecond
