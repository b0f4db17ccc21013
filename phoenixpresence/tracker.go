package phoenixpresence

import (
	ctxpkg "context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/etf"
	"github.com/phxgo/pubsub/internal/ratelog"
	"github.com/phxgo/pubsub/phoenixadapter"
	"github.com/phxgo/pubsub/tracker"
)

// Tracker is a Phoenix.Tracker replica of an Elixir application's Presence, on a Go node of its
// PubSub (a phoenixadapter.Adapter). Experimental: see the package documentation.
type Tracker struct {
	cfg   Config
	ps    *pubsub.PubSub
	a     sender
	topic string
	self  replicaRef
	enc   encoder
	meta  etf.Encoder // checks user metas: no atoms
	log   *slog.Logger
	rlog  *ratelog.Log

	creation uint32
	mu       sync.Mutex
	st       *state
	reps     *replicas
	pending  []clockOf
	silent   int
	samples  int
	owners   map[tracker.Owner]*owned
	nextPid  uint64
	closed   bool

	sub    *pubsub.Subscriber
	diffs  *diffQueue
	cancel ctxpkg.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	stats counters
}

// sender publishes gossip: the PubSub's phoenixadapter.Adapter (the tests' timing checks use a
// simulated network).
type sender interface {
	NodeName() string
	BroadcastTrusted(ctx ctxpkg.Context, topic string, message any) error
	DirectBroadcastTrusted(ctx ctxpkg.Context, node, topic string, message any) error
}

// owned is what an Owner tracks, under the pid minted for it.
type owned struct {
	pid  etf.Pid
	keys map[vkey]struct{}
	stop func() bool
}

// Stats are a Tracker's counters since it started.
type Stats struct {
	// Heartbeats, TransfersSent, TransfersServed count the gossip this replica sent: heartbeats (with
	// a delta or empty), transfer requests, and transfer acks answering others' requests.
	Heartbeats, TransfersSent, TransfersServed uint64
	// Received counts the gossip messages merged or handled.
	Received uint64
	// DroppedGossip counts messages on the gossip topic that are not Phoenix.Tracker messages of the
	// pinned shapes or exceed Config.Limits: dropped whole, before any merge.
	DroppedGossip uint64
	// SendErrors counts gossip that could not be published.
	SendErrors uint64
	// DroppedDiffs counts presences of diffs dropped because the Handler fell more than
	// Config.MaxPendingDiffs behind.
	DroppedDiffs uint64
	// Replicas is the number of other replicas known now, Presences the number of presences in the
	// state (of every replica, up or down).
	Replicas, Presences int
}

type counters struct {
	heartbeats, transfersSent, transfersServed, received, dropped, sendErrors, droppedDiffs atomic.Uint64
}

// New starts a replica of the Presence cfg.Name on ps, whose adapter must be a (the PubSub's)
// phoenixadapter.Adapter a. The replica's name is the adapter's NodeName. It returns an error
// wrapping tracker.ErrInvalidConfig for a bad Config.
func New(ps *pubsub.PubSub, a *phoenixadapter.Adapter, cfg Config) (*Tracker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if ps == nil || a == nil {
		return nil, fmt.Errorf("%w: phoenixpresence: a PubSub and its phoenixadapter.Adapter are required", tracker.ErrInvalidConfig)
	}
	if ps.NodeName() != a.NodeName() {
		return nil, fmt.Errorf("%w: phoenixpresence: the PubSub's node %q is not the adapter's %q (give the adapter to that PubSub)", tracker.ErrInvalidConfig, ps.NodeName(), a.NodeName())
	}
	return start(ps, a, cfg)
}

// start starts a replica that receives on ps and sends with a; cfg has its defaults.
func start(ps *pubsub.PubSub, a sender, cfg Config) (*Tracker, error) {
	var err error
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	self := replicaRef{Name: a.NodeName(), Vsn: time.Now().UnixMicro() + int64(mrand.N(1<<20))}
	t := &Tracker{
		cfg: cfg, ps: ps, a: a, topic: Topic(cfg.Name), self: self,
		enc:      encoder{mapSetVersion: cfg.ElixirMapSet == "1.14"},
		meta:     etf.Encoder{AllowAtom: func(etf.Atom) bool { return false }},
		log:      log,
		rlog:     ratelog.New(log, 10*time.Second),
		creation: randomCreation(),
		st:       newState(self),
		silent:   cfg.MaxSilentPeriods,
		samples:  cfg.ClockSamplePeriods,
		owners:   map[tracker.Owner]*owned{},
	}
	t.st.sizes = cfg.MaxDeltaSizes
	t.reps = &replicas{st: t.st, byName: map[string]*remote{}, events: func(e string, r replicaRef) {
		t.log.Debug("phoenixpresence: "+e, slog.String("replica", r.Name), slog.Int64("vsn", r.Vsn))
	}}
	t.sub, err = ps.NewSubscriber(pubsub.WithMailboxSize(4096))
	if err != nil {
		return nil, err
	}
	if err := t.sub.Subscribe(t.topic); err != nil {
		t.sub.Close()
		return nil, err
	}
	t.diffs = newDiffQueue(cfg.Handler, log, cfg.MaxPendingDiffs, &t.stats.droppedDiffs)
	ctx, cancel := ctxpkg.WithCancel(ctxpkg.Background())
	t.cancel = cancel
	t.wg.Add(1)
	go t.run(ctx)
	return t, nil
}

func randomCreation() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])&0x7fffffff | 4 // never 0..3, the old 2-bit creations
}

// NodeName returns the replica's node name (the adapter's).
func (t *Tracker) NodeName() string { return t.self.Name }

// run is the shard's loop: gossip in, heartbeats out.
func (t *Tracker) run(ctx ctxpkg.Context) {
	defer t.wg.Done()
	first := time.Duration(mrand.Int64N(int64(t.cfg.BroadcastPeriod)/4 + 1))
	timer := time.NewTimer(first)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.ps.Done():
			t.markClosed()
			return
		case m, ok := <-t.sub.C():
			if !ok {
				t.markClosed()
				return
			}
			t.handle(ctx, m)
		case <-timer.C:
			t.tick(ctx)
			timer.Reset(t.cfg.BroadcastPeriod)
		}
	}
}

// markClosed makes every call fail with tracker.ErrClosed once the PubSub (or the subscription) is
// gone: the replica can no longer take part.
func (t *Tracker) markClosed() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

// out is one gossip message to send, to every node (node "") or to one.
type out struct {
	node string
	msg  *message
}

func (t *Tracker) send(ctx ctxpkg.Context, o out) {
	term := t.enc.messageTerm(o.msg)
	var err error
	if o.node == "" {
		err = t.a.BroadcastTrusted(ctx, t.topic, term)
	} else {
		err = t.a.DirectBroadcastTrusted(ctx, o.node, t.topic, term)
	}
	if err != nil && ctx.Err() == nil {
		t.stats.sendErrors.Add(1)
		t.rlog.LogAt(slog.LevelWarn, "send", "phoenixpresence: gossip not sent",
			slog.String("message", o.msg.Kind.String()), slog.String("node", t.self.Name), slog.Any("err", err))
	}
}

// tick is the shard's :heartbeat: the delta (or an empty heartbeat when silent too long), transfer
// requests to replicas whose clocks show something this one lacks, and down detection.
func (t *Tracker) tick(ctx ctxpkg.Context) {
	var outs []out
	var c changes
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	switch {
	case t.st.hasDelta():
		clocks := t.st.clocks()
		d := t.st.takeDelta()
		outs = append(outs, out{msg: &message{Kind: msgHeartbeat, From: t.self, State: d, Clocks: clocks}})
		t.silent = 0
	case t.silent >= t.cfg.MaxSilentPeriods:
		outs = append(outs, out{msg: &message{Kind: msgHeartbeat, From: t.self, Clocks: t.st.clocks()}})
		t.silent = 0
	default:
		t.silent++
	}
	if t.samples <= 1 {
		set := appendClock(t.pending, t.st.clocks())
		for _, x := range set {
			if x.Replica != t.self {
				outs = append(outs, out{node: x.Replica.Name, msg: &message{Kind: msgTransferReq, From: t.self,
					Ref: t.newRef(), Clocks: t.st.clocks()}})
			}
		}
		t.pending, t.samples = nil, t.cfg.ClockSamplePeriods
	} else {
		t.samples--
	}
	t.reps.detectDowns(time.Now(), t.cfg.DownPeriod, t.cfg.PermdownPeriod, &c)
	t.report(c)
	t.mu.Unlock()
	for _, o := range outs {
		switch o.msg.Kind {
		case msgHeartbeat:
			t.stats.heartbeats.Add(1)
		case msgTransferReq:
			t.stats.transfersSent.Add(1)
		}
		t.send(ctx, o)
	}
}

// newRef mints a reference of this node, for transfer requests.
func (t *Tracker) newRef() etf.Ref {
	var b [12]byte
	rand.Read(b[:])
	return etf.Ref{Node: etf.Atom(t.self.Name), Creation: t.creation, ID: []uint32{
		binary.BigEndian.Uint32(b[0:]) & 0x3ffff, binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])}}
}

// handle merges or answers one gossip message.
func (t *Tracker) handle(ctx ctxpkg.Context, m pubsub.Message) {
	msg, err := decodeMessage(m.Payload, t.cfg.Limits)
	if err == nil && msg.From.Name == t.self.Name {
		err = fmt.Errorf("%w: a message in this node's name (%s)", ErrBadGossip, t.self.Name)
	}
	if err != nil {
		t.stats.dropped.Add(1)
		t.rlog.LogAt(slog.LevelWarn, "gossip", "phoenixpresence: dropped gossip that is not a Phoenix.Tracker message within the limits",
			slog.String("topic", m.Topic), slog.String("node", t.self.Name), slog.Any("err", err))
		return
	}
	t.stats.received.Add(1)
	var c changes
	var reply *out
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	now := time.Now()
	switch msg.Kind {
	case msgHeartbeat:
		t.reps.heartbeat(msg.From, now, &c)
		if msg.State != nil {
			joins, leaves := t.st.mergeGossip(msg.State)
			c.join(joins...)
			c.leave(leaves...)
		}
		t.pending = appendClock(t.pending, msg.Clocks)
	case msgTransferReq:
		reply = &out{node: msg.From.Name, msg: &message{Kind: msgTransferAck, From: t.self, Ref: msg.Ref,
			State: t.st.transfer(msg.Clocks.Context)}}
	case msgTransferAck:
		joins, leaves := t.st.mergeGossip(msg.State)
		c.join(joins...)
		c.leave(leaves...)
	case msgGracefulPermdown:
		t.reps.gracefulPermdown(msg.From, &c)
	}
	t.report(c)
	t.mu.Unlock()
	if reply != nil {
		t.stats.transfersServed.Add(1)
		t.send(ctx, *reply)
	}
}

// report queues the diff of c for the handler. Called with t.mu held.
func (t *Tracker) report(c changes) {
	if t.cfg.Handler == nil || len(c.joins)+len(c.leaves) == 0 {
		return
	}
	d := map[string]tracker.Diff{}
	for _, v := range c.joins {
		x := d[v.Topic]
		x.Joins = append(x.Joins, presenceOf(v))
		d[v.Topic] = x
	}
	for _, v := range c.leaves {
		x := d[v.Topic]
		x.Leaves = append(x.Leaves, presenceOf(v))
		d[v.Topic] = x
	}
	t.diffs.push(d)
}

// presenceOf renders a value for Go: the key as a string, the owner as its pid, the meta with string
// keys (atom keys by their names), its phx_ref and phx_ref_prev (binaries) in Ref and RefPrev, as the
// tracker package shows them.
func presenceOf(v *value) tracker.Presence {
	p := tracker.Presence{Key: keyString(v.Key), Owner: pidString(v.Pid), Replica: v.Tag.Replica.Name}
	m := goMeta(v.Meta)
	ref, isRef := m[tracker.MetaRef].(string)
	prev, isPrev := m[tracker.MetaRefPrev].(string)
	p.Ref, p.RefPrev = ref, prev
	if !isRef && !isPrev {
		p.Meta = m
		return p
	}
	user := make(map[string]any, len(m))
	for k, x := range m {
		if (k != tracker.MetaRef || !isRef) && (k != tracker.MetaRefPrev || !isPrev) {
			user[k] = x
		}
	}
	if len(user) > 0 {
		p.Meta = user
	}
	return p
}

func pidString(p etf.Pid) string { return fmt.Sprintf("<%d.%d>", p.ID, p.Serial) }

// goMeta is a meta term as a map[string]any: atom keys by their names.
func goMeta(m any) map[string]any {
	switch x := m.(type) {
	case map[string]any:
		return x
	case etf.Map:
		out := make(map[string]any, len(x))
		for _, p := range x {
			out[keyString(p.Key)] = p.Value
		}
		return out
	}
	return nil
}

var errEmpty = errors.New("empty topic or key")

func (t *Tracker) check(o tracker.Owner, topic, key string) error {
	switch {
	case o == nil:
		return fmt.Errorf("%w: nil owner", tracker.ErrInvalidArgument)
	case topic == "" || key == "":
		return fmt.Errorf("%w: %w", tracker.ErrInvalidArgument, errEmpty)
	case t.closed:
		return tracker.ErrClosed
	}
	return nil
}

// metaTerm is the meta as it travels: the user's keys as binaries, phx_ref (and phx_ref_prev) as
// atoms, as Phoenix.Tracker adds them. It returns an error for values Elixir cannot receive, or atoms.
// The values are those the meta decodes to (int64 for every integer, and so on), so that the meta
// reads the same here as on every other Go node; the second result is the meta as Go reads it.
func (t *Tracker) metaTerm(meta map[string]any, ref, prev string) (etf.Map, map[string]any, error) {
	user := make(map[string]any, len(meta))
	for k, v := range meta {
		if k != "phx_ref" && k != "phx_ref_prev" {
			user[k] = v
		}
	}
	b, err := t.meta.Append(nil, user)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: meta: %w", tracker.ErrInvalidArgument, err)
	}
	v, err := etf.Decode(b, etf.Limits{})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: meta: %w", tracker.ErrInvalidArgument, err)
	}
	norm, _ := v.(map[string]any) // all keys are binaries: always a map[string]any
	m := make(etf.Map, 0, len(norm)+2)
	g := make(map[string]any, len(norm)+2)
	for k, x := range norm {
		m = append(m, etf.Pair{Key: k, Value: x})
		g[k] = x
	}
	m = append(m, etf.Pair{Key: atomPhxRef, Value: ref})
	g["phx_ref"] = ref
	if prev != "" {
		m = append(m, etf.Pair{Key: atomPhxRefPrev, Value: prev})
		g["phx_ref_prev"] = prev
	}
	return m, g, nil
}

// randomRef is a phx_ref as Phoenix makes them: 12 bytes (time, then random), URL-safe base64.
func randomRef() string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
	rand.Read(b[8:])
	return base64.URLEncoding.EncodeToString(b[:])
}

// Track tracks a presence of owner under key in topic, with meta, and returns its phx_ref. The owner
// gets a pid of this node (one per owner); when it is done, its presences end, as when an Elixir
// process exits. The Elixir nodes see the presence after the next heartbeat. Meta's keys travel as
// binaries (phx_ref as an atom, as Phoenix adds it); its values must have an Elixir counterpart (see
// package phoenixadapter) and carry no atoms. It returns tracker.ErrAlreadyTracked,
// tracker.ErrInvalidArgument or tracker.ErrClosed.
func (t *Tracker) Track(owner tracker.Owner, topic, key string, meta map[string]any) (string, error) {
	ref := randomRef()
	term, g, err := t.metaTerm(meta, ref, "")
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(owner, topic, key); err != nil {
		return "", err
	}
	o := t.owners[owner]
	if o == nil {
		t.nextPid++
		n := t.nextPid
		o = &owned{pid: etf.Pid{Node: etf.Atom(t.self.Name), ID: uint32(n & 0x7fff), Serial: uint32(n>>15) & 0x1fff, Creation: t.creation},
			keys: map[vkey]struct{}{}}
		t.owners[owner] = o
		o.stop = t.watch(owner)
	}
	k := vkey{Topic: topic, Pid: o.pid, KeyID: key}
	if _, ok := o.keys[k]; ok {
		return "", fmt.Errorf("%w: %q in %q", tracker.ErrAlreadyTracked, key, topic)
	}
	o.keys[k] = struct{}{}
	v := t.st.join(o.pid, topic, key, key, term)
	t.report(changes{joins: []*value{withGoMeta(v, g)}})
	return ref, nil
}

// withGoMeta is v with its Go meta (what the user gave, phx_ref added) for the handler.
func withGoMeta(v *value, g map[string]any) *value {
	c := *v
	c.Meta = g
	return &c
}

// watch ends owner's presences when it is done.
func (t *Tracker) watch(owner tracker.Owner) func() bool {
	if ac, ok := owner.(interface {
		AfterClose(f func()) (stop func() bool)
	}); ok {
		return ac.AfterClose(func() { t.UntrackAll(owner) })
	}
	stop := make(chan struct{})
	var once sync.Once
	go func() {
		select {
		case <-owner.Done():
			t.UntrackAll(owner)
		case <-stop:
		}
	}()
	return func() bool { once.Do(func() { close(stop) }); return true }
}

// Update replaces the meta of owner's presence under key in topic and returns its new phx_ref; the
// meta gets phx_ref_prev, the old ref, as with Phoenix. It returns tracker.ErrNoPresence,
// tracker.ErrInvalidArgument or tracker.ErrClosed.
func (t *Tracker) Update(owner tracker.Owner, topic, key string, meta map[string]any) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(owner, topic, key); err != nil {
		return "", err
	}
	o := t.owners[owner]
	if o == nil {
		return "", fmt.Errorf("%w: %q in %q", tracker.ErrNoPresence, key, topic)
	}
	k := vkey{Topic: topic, Pid: o.pid, KeyID: key}
	old := t.st.ownValue(k)
	if _, mine := o.keys[k]; old == nil || !mine {
		return "", fmt.Errorf("%w: %q in %q", tracker.ErrNoPresence, key, topic)
	}
	prevRef, _ := goMeta(old.Meta)["phx_ref"].(string)
	ref := randomRef()
	term, g, err := t.metaTerm(meta, ref, prevRef)
	if err != nil {
		return "", err
	}
	oldV, now := t.st.leaveJoin(k, term)
	t.report(changes{joins: []*value{withGoMeta(now, g)}, leaves: []*value{oldV}})
	return ref, nil
}

// Untrack removes owner's presence under key in topic; untracking what is not tracked is not an error.
// It returns tracker.ErrInvalidArgument or tracker.ErrClosed.
func (t *Tracker) Untrack(owner tracker.Owner, topic, key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(owner, topic, key); err != nil {
		return err
	}
	o := t.owners[owner]
	if o == nil {
		return nil
	}
	k := vkey{Topic: topic, Pid: o.pid, KeyID: key}
	if _, ok := o.keys[k]; !ok {
		return nil
	}
	t.untrack(owner, o, k)
	return nil
}

func (t *Tracker) untrack(owner tracker.Owner, o *owned, k vkey) {
	delete(o.keys, k)
	if v := t.st.leave(k); v != nil {
		t.report(changes{leaves: []*value{v}})
	}
	if len(o.keys) == 0 {
		delete(t.owners, owner)
		o.stop()
	}
}

// UntrackAll removes every presence of owner. It returns tracker.ErrClosed after Close.
func (t *Tracker) UntrackAll(owner tracker.Owner) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return tracker.ErrClosed
	}
	o := t.owners[owner]
	if o == nil {
		return nil
	}
	for k := range o.keys {
		t.untrack(owner, o, k)
	}
	return nil
}

// List returns the presences of topic on every replica that is up (Go's and Elixir's), as a fresh
// slice, in no particular order.
func (t *Tracker) List(topic string) []tracker.Presence {
	t.mu.Lock()
	defer t.mu.Unlock()
	vs := t.st.online(topic)
	out := make([]tracker.Presence, len(vs))
	for i, v := range vs {
		out[i] = presenceOf(v)
	}
	return out
}

// GetByKey returns the presences under key in topic (one per owner, on any replica that is up).
func (t *Tracker) GetByKey(topic, key string) []tracker.Presence {
	var out []tracker.Presence
	for _, p := range t.List(topic) {
		if p.Key == key {
			out = append(out, p)
		}
	}
	return out
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	reps, n := len(t.reps.byName), len(t.st.values)
	t.mu.Unlock()
	return Stats{
		Heartbeats: t.stats.heartbeats.Load(), TransfersSent: t.stats.transfersSent.Load(),
		TransfersServed: t.stats.transfersServed.Load(), Received: t.stats.received.Load(),
		DroppedGossip: t.stats.dropped.Load(), SendErrors: t.stats.sendErrors.Load(), DroppedDiffs: t.stats.droppedDiffs.Load(),
		Replicas: reps, Presences: n,
	}
}

// GracefulPermdown tells every replica that this one is gone for good: the Elixir nodes remove its
// presences at once (Phoenix.Tracker.graceful_permdown). The tracker is closed afterwards. It returns
// tracker.ErrClosed if it was already closed, or the error of the publish.
func (t *Tracker) GracefulPermdown(ctx ctxpkg.Context) error {
	if !t.stop() {
		return tracker.ErrClosed
	}
	term := t.enc.messageTerm(&message{Kind: msgGracefulPermdown, From: t.self})
	return t.a.BroadcastTrusted(ctx, t.topic, term)
}

// Close stops the replica like a crash: nothing is announced, and the Elixir nodes hide its presences
// after their down_period and drop them after permdown_period. Use GracefulPermdown to leave at once.
func (t *Tracker) Close() error {
	t.stop()
	return nil
}

// stop ends the loop, the owners' watches and the handler; false if already stopped.
func (t *Tracker) stop() bool {
	first := false
	t.once.Do(func() {
		first = true
		t.mu.Lock()
		t.closed = true
		for _, o := range t.owners {
			o.stop()
		}
		t.owners = nil
		t.mu.Unlock()
		t.cancel()
		t.wg.Wait()
		t.sub.Close()
		t.diffs.close()
	})
	return first
}
