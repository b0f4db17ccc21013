package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/phxgo/pubsub"
)

// sendTimeout bounds one gossip send.
const sendTimeout = 5 * time.Second

// shard is one independent replica group: Phoenix's Tracker.Shard. Its state is guarded by mu; local
// operations take mu in the caller's goroutine, and the shard's own goroutine takes it for heartbeats,
// gossip and failure detection. Gossip is encoded under mu and sent after releasing it, so a slow
// Redis round trip never holds up Track. Reads go to views and never take mu.
type shard struct {
	t     *Tracker
	topic string // the gossip topic
	sub   *pubsub.Subscriber
	views *views
	flush chan struct{} // a local change is waiting to be gossiped
	done  chan struct{}
	wg    sync.WaitGroup

	mu            sync.Mutex
	state         *state
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
	ref  replicaRef
	last time.Time // last heartbeat
	up   bool
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
	}
	sub, err := t.ps.NewSubscriber(pubsub.WithMailboxSize(gossipMailbox))
	if err != nil {
		return nil, err
	}
	s.sub = sub
	if err := s.sub.Subscribe(s.topic); err != nil {
		return nil, err
	}
	if err := s.sub.Subscribe(pubsub.GapTopic); err != nil {
		return nil, err
	}
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
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
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
			s.send(s.takeDeltaHeartbeat())
		case <-eager.C:
			eagerArmed = false
			lastEager = time.Now()
			s.send(s.takeDeltaHeartbeat())
		case msg, ok := <-s.sub.C():
			if !ok {
				return
			}
			s.receive(msg)
		}
	}
}

// changed is called after a local change: the shard gossips it at once rather than at the next tick.
func (s *shard) changed() {
	select {
	case s.flush <- struct{}{}:
	default:
	}
}

// outgoing is a gossip message ready to send: to every node (node == ""), or to one.
type outgoing struct {
	node    string
	payload []byte
}

// send publishes prepared gossip, outside mu.
func (s *shard) send(out ...outgoing) {
	for _, o := range out {
		if o.payload == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		var err error
		if o.node == "" {
			err = s.t.ps.BroadcastFrom(ctx, s.sub, s.topic, o.payload)
		} else {
			err = s.t.ps.DirectBroadcast(ctx, o.node, s.topic, o.payload)
		}
		cancel()
		if err != nil && !errors.Is(err, pubsub.ErrClosed) {
			s.t.stats.sendErrors.Add(1)
			s.t.log.Warn("tracker: gossip send failed", slog.String("topic", s.topic), slog.Any("err", err))
		}
	}
}

// heartbeat encodes a heartbeat carrying d (nil: an empty heartbeat). Called with mu held.
func (s *shard) heartbeat(d *delta) outgoing {
	s.beats++
	g := gossip{kind: gossipHeartbeat}
	g.from, g.clocks = s.state.clocks()
	if d != nil {
		body, err := marshalDelta(d)
		if err != nil {
			s.t.log.Error("tracker: cannot encode a delta", slog.Any("err", err))
			return outgoing{}
		}
		g.body = body
	}
	return s.encode("", g)
}

func (s *shard) encode(node string, g gossip) outgoing {
	b, err := encodeGossip(g)
	if err != nil {
		s.t.log.Error("tracker: cannot encode gossip", slog.Any("err", err))
		return outgoing{}
	}
	return outgoing{node: node, payload: b}
}

// takeDeltaHeartbeat takes the pending local delta, if any, as a heartbeat.
func (s *shard) takeDeltaHeartbeat() outgoing {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.state.hasDelta() {
		return outgoing{}
	}
	return s.deltaHeartbeat()
}

// deltaHeartbeat takes the delta, records it in the generations and encodes it. mu held.
func (s *shard) deltaHeartbeat() outgoing {
	d := s.state.takeDelta()
	s.pushGeneration(d)
	s.silentPeriods = 0
	return s.heartbeat(d)
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
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.renewIfForgotten(now)
	var out []outgoing
	switch {
	case s.state.hasDelta():
		out = append(out, s.deltaHeartbeat())
	case s.silentPeriods >= s.t.cfg.MaxSilentPeriods:
		out = append(out, s.heartbeat(nil))
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
		out = append(out, s.requestFromAll()...)
	} else if s.sampleCount <= 1 {
		out = append(out, s.requestTransfers()...)
		s.sampleCount = s.t.cfg.ClockSamplePeriods
	} else {
		s.sampleCount--
	}
	diff := diffBuilder{}
	s.detectDown(now, diff)
	s.state.expirePermdowned(now.Add(-s.t.cfg.PermdownPeriod))
	s.report(diff)
	s.mu.Unlock()
	s.send(out...)
}

// requestTransfers sends a transfer request to each replica whose clock, sampled from heartbeats, is
// not dominated by another's or ours (Phoenix's clock sampling). mu held.
func (s *shard) requestTransfers() []outgoing {
	ref, clocks := s.state.clocks()
	set := appendClock(s.pendingClocks, clockEntry{replica: ref, context: clocks})
	s.pendingClocks = nil
	var out []outgoing
	for _, e := range set {
		if e.replica != ref {
			out = append(out, s.encode(e.replica.Name, gossip{kind: gossipTransferReq, from: ref, clocks: clocks}))
		}
	}
	return out
}

// requestFromAll asks every replica that is up for what we may have missed (after a gap). mu held.
func (s *shard) requestFromAll() []outgoing {
	ref, clocks := s.state.clocks()
	var out []outgoing
	for name, p := range s.peers {
		if p.up {
			out = append(out, s.encode(name, gossip{kind: gossipTransferReq, from: ref, clocks: clocks}))
		}
	}
	return out
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

// record applies joins and leaves to the views and adds them to diff. mu held.
func (s *shard) record(joins, leaves []*value, diff diffBuilder) {
	s.views.apply(joins, leaves)
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
		s.mu.Lock()
		s.gapPending = true
		s.mu.Unlock()
		return
	}
	b, ok := msg.Payload.([]byte)
	if !ok {
		s.t.dropGossip("payload is not []byte", nil)
		return
	}
	g, err := decodeGossip(b)
	if err != nil {
		s.t.dropGossip("malformed", err)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if g.from.Name == s.state.ref().Name { // never our own (the PubSub does not echo), so another node claims our name
		s.mu.Unlock()
		s.t.dropGossip("sent in this node's name", nil)
		return
	}
	var out []outgoing
	diff := diffBuilder{}
	switch g.kind {
	case gossipHeartbeat:
		if err = s.handleHeartbeat(g, diff); err == nil || errors.Is(err, errPermdowned) {
			s.noteClocks(g, time.Now())
		}
	case gossipTransferReq:
		if s.state.isPermdowned(g.from) {
			err = errPermdowned
			break
		}
		out = append(out, s.handleTransferReq(g))
	case gossipTransferDelta, gossipTransferExtract:
		// We ask only the replicas we know (up or down), so a transfer from any other (unknown,
		// permdowned, or an incarnation we have not heard yet) was not asked for.
		if p := s.peers[g.from.Name]; p == nil || p.ref != g.from {
			err = errUnasked
			break
		}
		err = s.handleTransferAck(g, diff)
	case gossipPermdown:
		if p := s.peers[g.from.Name]; p != nil && p.ref == g.from {
			s.permdown(p, diff)
			delete(s.peers, g.from.Name)
		} else if s.state.isPermdowned(g.from) {
			err = errPermdowned
		}
	}
	s.report(diff)
	s.mu.Unlock()
	if err != nil {
		s.t.dropGossip("rejected", err)
	}
	s.send(out...)
}

var (
	errPermdowned   = errors.New("tracker: gossip from a permdowned replica")
	errUnasked      = errors.New("tracker: transfer from a replica not asked (unknown or permdowned)")
	errForeignDelta = errors.New("tracker: heartbeat delta of replicas other than its sender")
)

// handleHeartbeat is Phoenix's handle_heartbeat followed by the merge of the heartbeat's delta. mu held.
func (s *shard) handleHeartbeat(g gossip, diff diffBuilder) error {
	if s.state.isPermdowned(g.from) {
		return errPermdowned
	}
	var d *delta
	if g.body != nil {
		var err error
		if d, err = unmarshalDelta(g.body); err != nil {
			return err
		}
		// A heartbeat carries its sender's own changes: its range is the sender's clock alone.
		if _, ok := d.end[g.from]; !ok || len(d.end) != 1 {
			return errForeignDelta
		}
	}
	now := time.Now()
	p := s.peers[g.from.Name]
	switch {
	case p == nil:
		p = &peer{ref: g.from}
		s.peers[g.from.Name] = p
		s.up(p, diff)
		s.silentPeriods = s.t.cfg.MaxSilentPeriods // heartbeat at the next tick: the newcomer learns of us
	case p.ref != g.from: // a new incarnation of the node: the old one is gone for good
		if g.from.Vsn < p.ref.Vsn {
			return errPermdowned // a late heartbeat of the old incarnation
		}
		s.permdown(p, diff)
		p = &peer{ref: g.from}
		s.peers[g.from.Name] = p
		s.up(p, diff)
		s.silentPeriods = s.t.cfg.MaxSilentPeriods
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
	return nil
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
// or with the full state. mu held.
func (s *shard) handleTransferReq(g gossip) outgoing {
	d, x := s.gens.extract(s.state, g.from, g.clocks)
	ack := gossip{kind: gossipTransferDelta, from: s.state.ref()}
	var err error
	if d != nil {
		ack.body, err = marshalDelta(d)
	} else {
		ack.kind = gossipTransferExtract
		ack.body, err = marshalExtract(x)
	}
	if err != nil {
		s.t.log.Error("tracker: cannot encode a transfer", slog.Any("err", err))
		return outgoing{}
	}
	return s.encode(g.from.Name, ack)
}

// handleTransferAck merges a transfer. A full state resets the generations, as in Phoenix. mu held.
func (s *shard) handleTransferAck(g gossip, diff diffBuilder) error {
	if g.kind == gossipTransferExtract {
		x, err := unmarshalExtract(g.body)
		if err != nil {
			return err
		}
		joins, leaves := s.state.mergeExtract(x)
		s.record(joins, leaves, diff)
		s.gens.reset()
		return nil
	}
	d, err := unmarshalDelta(g.body)
	if err != nil {
		return err
	}
	joins, leaves := s.state.mergeDelta(d)
	s.record(joins, leaves, diff)
	s.pushGeneration(d)
	return nil
}

// stop ends the shard's goroutine; with permdown, it first tells every replica it is gone for good.
// stop stops the shard; with permdown it first announces to every replica that this one is gone for
// good, and returns why the announcement was not sent, if it was not.
func (s *shard) stop(ctx context.Context, permdown bool) error {
	s.mu.Lock()
	s.closed = true
	var out outgoing
	if permdown {
		out = s.encode("", gossip{kind: gossipPermdown, from: s.state.ref()})
	}
	s.mu.Unlock()
	var err error
	if permdown {
		if out.payload == nil {
			err = errors.New("tracker: the permdown announcement could not be encoded")
		} else if err = s.t.ps.BroadcastFrom(ctx, s.sub, s.topic, out.payload); err != nil {
			err = fmt.Errorf("tracker: graceful permdown not announced on %s: %w", s.topic, err)
			s.t.log.Warn("tracker: graceful permdown not sent", slog.Any("err", err))
		}
	}
	close(s.done)
	s.wg.Wait()
	s.sub.Close()
	return err
}
