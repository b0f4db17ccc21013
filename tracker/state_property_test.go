package tracker

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Property test of the CRDT: replicas run random local operations and gossip deltas and transfers through
// the codec over a network that drops, duplicates, delays and reorders, while replicas go down, come back,
// crash, restart as new incarnations and are permdowned. Throughout, merges must be commutative,
// associative and idempotent, removes must travel and permdowned replicas stay gone; after a final
// anti-entropy round every live replica must list exactly the presences the live replicas own.
//
// Reproduce a failure with its seed:
//
//	go test -run TestStateProperties ./tracker/ -seed=N      (or CRDT_SEED=N)
//
// -seeds and -ops (CRDT_SEEDS, CRDT_OPS) change how many runs and how long each is.
var (
	flagSeed  = flag.Uint64("seed", 0, "run the CRDT property test with this seed only (env CRDT_SEED)")
	flagSeeds = flag.Int("seeds", 0, "number of seeds of the CRDT property test (env CRDT_SEEDS, default 500)")
	flagOps   = flag.Int("ops", 0, "operations per seed of the CRDT property test (env CRDT_OPS, default 200)")
)

func envUint(name string, flagValue, def uint64) uint64 {
	if flagValue != 0 {
		return flagValue
	}
	if s := os.Getenv(name); s != "" {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return n
		}
	}
	return def
}

func TestStateProperties(t *testing.T) {
	seeds := envUint("CRDT_SEEDS", uint64(*flagSeeds), 500)
	ops := int(envUint("CRDT_OPS", uint64(*flagOps), 200))
	if testing.Short() {
		seeds = min(seeds, 50)
	}
	var run []uint64
	if seed := envUint("CRDT_SEED", *flagSeed, 0); seed != 0 {
		run = []uint64{seed}
	} else {
		for i := range seeds {
			run = append(run, 0x5eed0000+i)
		}
	}
	for _, seed := range run {
		if !runSim(t, seed, ops) {
			return
		}
	}
}

// simNode is one node of the simulation: the current incarnation's state and generations, and a view of
// its visible presences kept from nothing but the joins and leaves its operations return (as the shard's
// read views are), which must always equal what the state lists.
type simNode struct {
	name  string
	vsn   uint64
	s     *state
	gens  *deltaGenerations
	alive bool
	view  map[tag]*value
}

// apply updates the node's view with an operation's events: leaves must be in it, joins must not.
func (m *sim) apply(nd *simNode, joins, leaves []*value) {
	for _, v := range leaves {
		if nd.view[v.tag] != v {
			m.fail("%v: leave of %v@%d which is not in the view", nd.s.ref(), v.tag.replica, v.tag.clock)
			return
		}
		delete(nd.view, v.tag)
	}
	for _, v := range joins {
		if nd.view[v.tag] != nil {
			m.fail("%v: join of %v@%d already in the view", nd.s.ref(), v.tag.replica, v.tag.clock)
			return
		}
		nd.view[v.tag] = v
	}
}

func one(v *value) []*value {
	if v == nil {
		return nil
	}
	return []*value{v}
}

// checkView compares the event-built view with the state's visible values.
func (m *sim) checkView(nd *simNode) {
	n := 0
	for v := range nd.s.values() {
		if !nd.s.visible(v) {
			continue
		}
		n++
		if nd.view[v.tag] != v || nd.s.topics[v.topic] == nil {
			m.fail("%v: visible %v@%d (%s/%s/%s) missing from the events' view", nd.s.ref(), v.tag.replica, v.tag.clock, v.topic, v.owner, v.key)
			return
		}
	}
	if n != len(nd.view) {
		m.fail("%v: the events' view has %d values, the state shows %d", nd.s.ref(), len(nd.view), n)
	}
}

// simMsg is a message in flight: a heartbeat (with an encoded delta or none) or a transfer ack.
type simMsg struct {
	to      int
	from    replicaRef
	ack     bool
	full    bool   // the ack holds an extract
	payload []byte // nil for an empty heartbeat
}

type sim struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand
	nodes []*simNode
	net   []simMsg
	dead  []replicaRef // incarnations that crashed
	now   time.Time
	log   []string
	// permdowned records, per incarnation, every ref it permdowned, to check they never come back
	// independently of the state's own tombstones.
	permdowned map[replicaRef]map[replicaRef]bool
	reliable   bool // no drops or duplicates (the final rounds)
	failed     bool
}

func runSim(t *testing.T, seed uint64, ops int) bool {
	t.Helper()
	m := &sim{
		t:          t,
		seed:       seed,
		rng:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:        time.Unix(1_000_000, 0),
		permdowned: map[replicaRef]map[replicaRef]bool{},
	}
	n := 3 + m.rng.IntN(3)
	for i := range n {
		m.nodes = append(m.nodes, &simNode{name: fmt.Sprint("n", i)})
		m.start(i)
	}
	for op := 0; op < ops && !m.failed; op++ {
		m.step()
	}
	if !m.failed {
		m.antiEntropy()
	}
	return !m.failed
}

func (m *sim) fail(format string, args ...any) {
	if m.failed {
		return
	}
	m.failed = true
	tail := m.log[max(0, len(m.log)-40):]
	m.t.Errorf("seed %d (reproduce: go test -run TestStateProperties ./tracker/ -seed=%d): %s\nlast operations:\n  %s",
		m.seed, m.seed, fmt.Sprintf(format, args...), strings.Join(tail, "\n  "))
}

func (m *sim) logf(format string, args ...any) { m.log = append(m.log, fmt.Sprintf(format, args...)) }

// start (re)starts node i as a new incarnation.
func (m *sim) start(i int) {
	nd := m.nodes[i]
	nd.vsn++
	nd.s = newState(replicaRef{Name: nd.name, Vsn: nd.vsn})
	nd.gens = newDeltaGenerations([]int{3, 10, 40})
	nd.alive = true
	nd.view = map[tag]*value{}
	m.permdowned[nd.s.ref()] = map[replicaRef]bool{}
}

func (m *sim) alive() []int {
	var out []int
	for i, nd := range m.nodes {
		if nd.alive {
			out = append(out, i)
		}
	}
	return out
}

// pick returns a random live node other than not (-1 for any), or -1.
func (m *sim) pick(not int) int {
	var c []int
	for _, i := range m.alive() {
		if i != not {
			c = append(c, i)
		}
	}
	if len(c) == 0 {
		return -1
	}
	return c[m.rng.IntN(len(c))]
}

func (m *sim) step() {
	m.now = m.now.Add(time.Second)
	r := m.rng.IntN(100)
	x := m.pick(-1)
	if x < 0 {
		m.start(m.rng.IntN(len(m.nodes)))
		return
	}
	nd := m.nodes[x]
	switch {
	case r < 25:
		m.localJoin(nd)
	case r < 32:
		if v := m.randomOwn(nd); v != nil {
			m.logf("%v leave %s/%s/%s", nd.s.ref(), v.topic, v.owner, v.key)
			got, ok := nd.s.leave(v.topic, v.owner, v.key)
			if !ok || got != v {
				m.fail("leave of a held value failed")
			}
			m.apply(nd, nil, one(got))
		}
	case r < 40:
		if v := m.randomOwn(nd); v != nil {
			m.logf("%v leaveJoin %s/%s/%s", nd.s.ref(), v.topic, v.owner, v.key)
			old, nv, ok := nd.s.leaveJoin(v.topic, v.owner, v.key, map[string]any{"v": m.rng.Int64N(1000)})
			if !ok || old != v {
				m.fail("leaveJoin of a held value failed")
			}
			m.apply(nd, one(nv), one(old))
		}
	case r < 43:
		owner := fmt.Sprint(nd.name, "-o", m.rng.IntN(3))
		m.logf("%v leaveOwner %s", nd.s.ref(), owner)
		m.apply(nd, nil, nd.s.leaveOwner(owner))
	case r < 60:
		m.heartbeat(x)
	case r < 85:
		m.deliver()
	case r < 90:
		if y := m.pick(x); y >= 0 {
			m.transferRequest(x, y)
		}
	case r < 94:
		if y := m.pick(x); y >= 0 {
			m.logf("%v marks %v down", nd.s.ref(), m.nodes[y].s.ref())
			m.apply(nd, nil, nd.s.replicaDown(m.nodes[y].s.ref()))
		}
	case r < 96:
		m.permdownDead(x)
	case r < 97:
		// a netsplit longer than the permdown period: x permdowns a live node, which must renew to be
		// accepted again
		if y := m.pick(x); y >= 0 && m.rng.IntN(3) == 0 {
			m.permdown(nd, m.nodes[y].s.ref())
		}
	case r < 98:
		m.renewIfPermdowned(x)
	default:
		m.crash(x)
	}
	if x >= 0 && m.nodes[x].alive {
		m.check(m.nodes[x])
	}
	for _, y := range m.alive() {
		m.checkView(m.nodes[y])
	}
	m.checkNoLostAdds()
}

// checkNoLostAdds checks the core safety property of the observed-remove set: a replica that has seen a dot
// of a live owner without holding its value must be right that the value was removed, i.e. the owner no
// longer holds it either. (A lost add could never be repaired by anti-entropy.)
func (m *sim) checkNoLostAdds() {
	for _, x := range m.alive() {
		owner := m.nodes[x].s
		for _, y := range m.alive() {
			s := m.nodes[y].s
			r := s.replicas[owner.ref()]
			if y == x || r == nil {
				continue
			}
			for v := range owner.ownValues() {
				if c := v.tag.clock; r.seen(c) && r.values[c] == nil {
					m.fail("%v has seen %v@%d (%s/%s/%s) without holding it, but its owner holds it",
						s.ref(), owner.ref(), c, v.topic, v.owner, v.key)
					return
				}
			}
		}
	}
}

func (m *sim) localJoin(nd *simNode) {
	topic := fmt.Sprint("t", m.rng.IntN(3))
	owner := fmt.Sprint(nd.name, "-o", m.rng.IntN(3))
	key := fmt.Sprint("k", m.rng.IntN(3))
	v, ok := nd.s.join(topic, owner, key, map[string]any{"v": m.rng.Int64N(1000)})
	if ok {
		m.apply(nd, one(v), nil)
	}
	m.logf("%v join %s/%s/%s (new=%v)", nd.s.ref(), topic, owner, key, ok)
}

func (m *sim) randomOwn(nd *simNode) *value {
	if nd.s.ownCount == 0 {
		return nil
	}
	vs := slices.Collect(nd.s.ownValues())
	slices.SortFunc(vs, func(a, b *value) int { return int(a.tag.clock) - int(b.tag.clock) })
	return vs[m.rng.IntN(len(vs))]
}

// send puts a message on the network, maybe dropping or duplicating it.
func (m *sim) send(msg simMsg) {
	if m.reliable {
		m.net = append(m.net, msg)
		return
	}
	if m.rng.IntN(100) < 20 {
		return
	}
	m.net = append(m.net, msg)
	if m.rng.IntN(100) < 10 {
		m.net = append(m.net, msg)
	}
}

// heartbeat broadcasts node x's delta, if any, as the shard's tick does.
func (m *sim) heartbeat(x int) {
	nd := m.nodes[x]
	msg := simMsg{from: nd.s.ref()}
	if nd.s.hasDelta() {
		d := nd.s.takeDelta()
		b, err := marshalDelta(d)
		if err != nil {
			m.fail("marshalDelta: %v", err)
			return
		}
		nd.gens.push(nd.s, d)
		msg.payload = b
		m.checkDeltaAlgebra(nd, d)
	}
	m.logf("%v heartbeat (delta %d bytes)", nd.s.ref(), len(msg.payload))
	for _, y := range m.alive() {
		if y != x {
			msg.to = y
			m.send(msg)
		}
	}
}

// transferRequest has node y answer node x's transfer request, the ack going over the network.
func (m *sim) transferRequest(x, y int) {
	req, resp := m.nodes[x], m.nodes[y]
	if req.s.replicas[resp.s.ref()] == nil {
		return // x only asks replicas it has heard from
	}
	ref, ctx := req.s.clocks()
	d, full := resp.gens.extract(resp.s, ref, ctx)
	msg := simMsg{to: x, from: resp.s.ref(), ack: true}
	var err error
	if full != nil {
		msg.full = true
		msg.payload, err = marshalExtract(full)
	} else {
		msg.payload, err = marshalDelta(d)
	}
	if err != nil {
		m.fail("marshal transfer: %v", err)
		return
	}
	m.logf("%v answers %v's transfer request (full=%v)", resp.s.ref(), ref, msg.full)
	m.send(msg)
}

// deliver delivers a random message in flight.
func (m *sim) deliver() {
	if len(m.net) > 0 {
		m.deliverAt(m.rng.IntN(len(m.net)))
	}
}

// deliverAt delivers message i.
func (m *sim) deliverAt(i int) {
	msg := m.net[i]
	m.net = slices.Delete(m.net, i, i+1)
	nd := m.nodes[msg.to]
	if !nd.alive {
		return
	}
	m.logf("%v receives from %v (ack=%v full=%v %d bytes)", nd.s.ref(), msg.from, msg.ack, msg.full, len(msg.payload))
	if !msg.ack && !m.handleHeartbeat(nd, msg.from) {
		return
	}
	if msg.payload == nil {
		return
	}
	if msg.full {
		x, err := unmarshalExtract(msg.payload)
		if err != nil {
			m.fail("unmarshalExtract: %v", err)
			return
		}
		m.checkMergeAlgebra(nd, x, nil)
		var joins, leaves []*value
		if m.rng.IntN(2) == 0 { // as a stream does: in parts, merged as they arrive
			if joins, leaves, err = mergeInParts(nd.s, x, 1+m.rng.IntN(200), nil); err != nil {
				m.fail("merge in parts: %v", err)
				return
			}
		} else {
			joins, leaves = nd.s.mergeExtract(x)
		}
		m.apply(nd, joins, leaves)
		m.checkTombstones(nd, leaves)
		nd.gens.reset()
		return
	}
	d, err := unmarshalDelta(msg.payload)
	if err != nil {
		m.fail("unmarshalDelta: %v", err)
		return
	}
	m.checkMergeAlgebra(nd, nil, d)
	joins, leaves := nd.s.mergeDelta(d)
	m.apply(nd, joins, leaves)
	m.checkTombstones(nd, leaves)
	nd.gens.push(nd.s, d)
}

// handleHeartbeat is the shard's replica bookkeeping on a heartbeat: a new incarnation of a node replaces
// (permdowns) the old one at once, a stale incarnation is ignored, a down replica comes back up.
func (m *sim) handleHeartbeat(nd *simNode, from replicaRef) bool {
	if nd.s.isPermdowned(from) {
		return false
	}
	for ref := range nd.s.replicas {
		if ref.Name != from.Name || ref == from {
			continue
		}
		if ref.Vsn > from.Vsn {
			return false
		}
		m.permdown(nd, ref)
	}
	joins, ok := nd.s.replicaUp(from)
	if !ok {
		m.fail("replicaUp refused %v", from)
		return false
	}
	m.apply(nd, joins, nil)
	return true
}

func (m *sim) permdown(nd *simNode, ref replicaRef) {
	m.logf("%v permdowns %v", nd.s.ref(), ref)
	m.apply(nd, nil, nd.s.replicaDown(ref))
	m.apply(nd, nil, nd.s.removeDownReplica(ref, m.now))
	nd.gens.removeDownReplica(ref)
	m.permdowned[nd.s.ref()][ref] = true
}

// permdownDead has node x permdown a crashed incarnation, as its failure detector eventually would.
func (m *sim) permdownDead(x int) {
	if len(m.dead) == 0 {
		return
	}
	nd := m.nodes[x]
	ref := m.dead[m.rng.IntN(len(m.dead))]
	if ref.Name == nd.name {
		return
	}
	m.permdown(nd, ref)
}

// renewIfPermdowned renews node x's replica if a live peer has permdowned it, as the shard does when peers
// keep leaving it out of their clocks.
func (m *sim) renewIfPermdowned(x int) {
	nd := m.nodes[x]
	for _, y := range m.alive() {
		if y != x && m.nodes[y].s.isPermdowned(nd.s.ref()) {
			old := nd.s.ref()
			nd.vsn++
			leaves, joins := nd.s.renew(replicaRef{Name: nd.name, Vsn: nd.vsn}, m.now)
			m.apply(nd, joins, leaves)
			nd.gens.removeDownReplica(old)
			m.permdowned[nd.s.ref()] = m.permdowned[old]
			m.permdowned[nd.s.ref()][old] = true
			m.dead = append(m.dead, old)
			m.logf("%v renews as %v", old, nd.s.ref())
			return
		}
	}
}

// crash kills node x's incarnation; half the time it restarts at once as a new one.
func (m *sim) crash(x int) {
	nd := m.nodes[x]
	m.logf("%v crashes", nd.s.ref())
	m.dead = append(m.dead, nd.s.ref())
	nd.alive = false
	if m.rng.IntN(2) == 0 || len(m.alive()) < 2 {
		m.start(x)
		m.logf("%s restarts as %v", nd.name, nd.s.ref())
	}
}

// check verifies a node's invariants after an operation.
func (m *sim) check(nd *simNode) {
	if m.failed {
		return
	}
	if err := invariantError(nd.s); err != nil {
		m.fail("%v: %v", nd.s.ref(), err)
		return
	}
	for ref := range m.permdowned[nd.s.ref()] {
		if r := nd.s.replicas[ref]; r != nil {
			m.fail("%v: permdowned %v came back (%d values)", nd.s.ref(), ref, len(r.values))
			return
		}
	}
	for i, gen := range nd.gens.gens {
		if ref, hole := gen.rangeHole(); hole {
			m.fail("%v: generation %d has a hole in the range of %v:\n%s", nd.s.ref(), i, ref, deltaString(gen))
			return
		}
		for ref := range m.permdowned[nd.s.ref()] {
			if nd.s.isPermdowned(ref) && gen.has(ref) {
				m.fail("%v: permdowned %v in a generation", nd.s.ref(), ref)
				return
			}
		}
	}
}

// checkTombstones checks that observed removes are re-gossiped: each leave is a tombstone in the delta.
func (m *sim) checkTombstones(nd *simNode, leaves []*value) {
	for _, v := range leaves {
		if !nd.s.delta.seen(v.tag) || nd.s.delta.values[v.tag] != nil {
			m.fail("%v: observed remove of %v@%d not in the delta", nd.s.ref(), v.tag.replica, v.tag.clock)
		}
	}
}

// checkMergeAlgebra checks, on copies of the receiving state, that merging the incoming payload p is
// idempotent and commutes with merging another payload q (a full extract from another live node), and, for
// two deltas, that merging them one by one equals merging their mergeDeltas.
func (m *sim) checkMergeAlgebra(nd *simNode, px *extract, pd *delta) {
	if m.reliable || m.rng.IntN(100) >= 30 {
		return
	}
	merge := func(s *state, x *extract, d *delta) (joins, leaves []*value) {
		if x != nil {
			return s.mergeExtract(x)
		}
		return s.mergeDelta(d)
	}
	// idempotent
	s1 := cloneState(nd.s)
	merge(s1, px, pd)
	before, beforeDelta := crdtState(s1), deltaString(s1.delta)
	if joins, leaves := merge(s1, px, pd); len(joins)+len(leaves) != 0 {
		m.fail("merging twice reported %d joins, %d leaves", len(joins), len(leaves))
		return
	}
	if crdtState(s1) != before || deltaString(s1.delta) != beforeDelta {
		m.fail("merging twice changed the state")
		return
	}
	// commutative with a full extract q from another node
	z := m.pick(-1)
	if z < 0 {
		return
	}
	_, ctx := nd.s.clocks()
	qx := m.nodes[z].s.extract(nd.s.ref(), ctx)
	a, b := cloneState(nd.s), cloneState(nd.s)
	merge(a, px, pd)
	a.mergeExtract(qx)
	b.mergeExtract(qx)
	merge(b, px, pd)
	if crdtState(a) != crdtState(b) {
		m.fail("merges do not commute:\n%s\n---\n%s", crdtState(a), crdtState(b))
		return
	}
	if px != nil {
		// In parts (a stream), with q merged whole between two parts: the same state, and the same joins
		// and leaves, as merging p whole then q.
		c, e := cloneState(nd.s), cloneState(nd.s)
		wantJoins, wantLeaves := c.mergeExtract(px)
		qJoins, qLeaves := c.mergeExtract(qx)
		var gotQJoins, gotQLeaves []*value
		once := false
		gotJoins, gotLeaves, err := mergeInParts(e, px, 1+m.rng.IntN(200), func() {
			if !once {
				once = true
				gotQJoins, gotQLeaves = e.mergeExtract(qx)
			}
		})
		if !once {
			gotQJoins, gotQLeaves = e.mergeExtract(qx)
		}
		switch {
		case err != nil:
			m.fail("merge in parts: %v", err)
		case crdtState(c) != crdtState(e):
			m.fail("a merge in parts, q between, differs from p then q:\n%s\n---\n%s", crdtState(c), crdtState(e))
		case netDiff(append(wantJoins, qJoins...), append(wantLeaves, qLeaves...)) != netDiff(append(gotJoins, gotQJoins...), append(gotLeaves, gotQLeaves...)):
			// Net: a value p brings and q removes joins and leaves when p is merged first, and never
			// shows when q comes before its part.
			m.fail("merge in parts: net diff %s, want %s", netDiff(append(gotJoins, gotQJoins...), append(gotLeaves, gotQLeaves...)),
				netDiff(append(wantJoins, qJoins...), append(wantLeaves, qLeaves...)))
		}
	}
	// associative: with q a delta too (the other node's current delta)
	if pd == nil {
		return
	}
	qd := m.nodes[z].s.delta
	pq, err := mergeDeltas(pd, qd)
	if err != nil {
		return
	}
	c, e := cloneState(nd.s), cloneState(nd.s)
	c.mergeDelta(pd)
	c.mergeDelta(qd)
	e.mergeDelta(pq)
	if crdtState(c) != crdtState(e) {
		m.fail("merge is not associative with mergeDeltas:\n%s\n---\n%s", crdtState(c), crdtState(e))
	}
}

// checkDeltaAlgebra checks mergeDeltas on the node's last deltas: commutative, idempotent, associative.
func (m *sim) checkDeltaAlgebra(nd *simNode, d *delta) {
	gens := nd.gens.gens
	if len(gens) < 2 {
		return
	}
	a, b, c := gens[0], gens[1], d
	ab, err1 := mergeDeltas(a, b)
	ba, err2 := mergeDeltas(b, a)
	if (err1 == nil) != (err2 == nil) || (err1 == nil && deltaString(ab) != deltaString(ba)) {
		m.fail("mergeDeltas not commutative")
		return
	}
	if aa, err := mergeDeltas(a, a); err != nil || deltaString(aa) != deltaString(a) {
		m.fail("mergeDeltas not idempotent: %v", err)
		return
	}
	bc, err3 := mergeDeltas(b, c)
	if err1 != nil || err3 != nil {
		return
	}
	l, errl := mergeDeltas(ab, c)
	r, errr := mergeDeltas(a, bc)
	if errl == nil && errr == nil && deltaString(l) != deltaString(r) {
		m.fail("mergeDeltas not associative:\n%s\n---\n%s", deltaString(l), deltaString(r))
	}
}

// antiEntropy ends the run: crashed incarnations are permdowned everywhere and the network heals. Then the
// live replicas run the protocol as the shard does, without losses: heartbeats with deltas, clock sampling
// (appendClock) and transfer requests answered from the delta generations or the full state. Within a few
// rounds every live replica must list exactly what the live replicas own, and hold nothing else. This catches
// liveness bugs too (Phoenix #74, #111: generations serving deltas with holes, so a replica never catches up).
func (m *sim) antiEntropy() {
	// Some of what is in flight arrives, the rest is lost.
	for len(m.net) > 0 && !m.failed {
		if m.rng.IntN(2) == 0 {
			m.deliver()
		} else {
			m.net = m.net[1:]
		}
	}
	live := m.alive()
	for _, x := range live {
		m.renewIfPermdowned(x)
	}
	for _, y := range live {
		for _, ref := range m.dead {
			if ref.Name != m.nodes[y].name {
				m.permdown(m.nodes[y], ref)
			}
		}
	}
	var want []string
	for _, x := range live {
		for v := range m.nodes[x].s.ownValues() {
			want = append(want, fmt.Sprintf("%s|%s|%s|%s|%v", v.topic, v.owner, v.key, v.tag.replica.Name, canonMeta(v.renderMeta())))
		}
	}
	slices.Sort(want)
	m.reliable = true
	const maxRounds = 6
	for round := 1; round <= maxRounds && !m.failed; round++ {
		m.logf("anti-entropy round %d", round)
		m.protocolRound(live)
		converged := true
		for _, y := range live {
			s := m.nodes[y].s
			m.check(m.nodes[y])
			m.checkView(m.nodes[y])
			if !slices.Equal(visibleState(s), want) || s.size() != len(want) {
				converged = false
				if round == maxRounds {
					m.fail("%v did not converge in %d rounds:\n got %v\nwant %v\n%s", s.ref(), maxRounds, visibleState(s), want, fullState(s))
				}
			}
		}
		if converged {
			return
		}
	}
}

// protocolRound runs one reliable round of the shard's protocol among the live nodes: every node heartbeats
// (its delta, if any, reaches everyone), then every node samples the clocks it heard and requests transfers
// from the replicas that appendClock keeps.
func (m *sim) protocolRound(live []int) {
	heard := make(map[int][]clockEntry)
	for _, x := range live {
		nd := m.nodes[x]
		var payload []byte
		if nd.s.hasDelta() {
			d := nd.s.takeDelta()
			b, err := marshalDelta(d)
			if err != nil {
				m.fail("marshalDelta: %v", err)
				return
			}
			nd.gens.push(nd.s, d)
			payload = b
		}
		for _, y := range live {
			if y == x {
				continue
			}
			m.send(simMsg{to: y, from: nd.s.ref(), payload: payload})
			m.deliverAt(0)
			ref, ctx := nd.s.clocks()
			heard[y] = appendClock(heard[y], clockEntry{replica: ref, context: ctx})
		}
	}
	for _, y := range live {
		nd := m.nodes[y]
		ref, ctx := nd.s.clocks()
		set := appendClock(heard[y], clockEntry{replica: ref, context: ctx})
		for _, target := range clockReplicas(set) {
			if target == ref {
				continue
			}
			for _, x := range live {
				if m.nodes[x].s.ref() == target {
					m.transferRequest(y, x)
					for len(m.net) > 0 {
						m.deliverAt(0)
					}
				}
			}
		}
	}
}

// crdtState is fullState without the delta: what merges must agree on.
func crdtState(s *state) string {
	full := fullState(s)
	return full[:strings.Index(full, "delta start=")]
}

// cloneState returns a deep copy of s (values are immutable and shared).
func cloneState(s *state) *state {
	c := &state{
		replicas:   make(map[replicaRef]*replicaState, len(s.replicas)),
		permdowned: maps.Clone(s.permdowned),
		topics:     make(map[string]*topicEntry, len(s.topics)),
		owners:     make(map[string]ownerSlot, len(s.owners)),
		delta:      s.delta.clone(),
		ownCount:   s.ownCount,
	}
	for ref, r := range s.replicas {
		cr := &replicaState{ref: r.ref, status: r.status, clock: r.clock, cloud: maps.Clone(r.cloud), values: maps.Clone(r.values)}
		c.replicas[ref] = cr
		if r == s.self {
			c.self = cr
		}
		if r.status == replicaDown {
			c.down = append(c.down, cr)
		}
	}
	c.deltaCloud = c.delta.clouds[c.self.ref]
	for topic, e := range s.topics {
		c.topics[topic] = &topicEntry{topic: e.topic, n: e.n}
	}
	for owner, o := range s.owners {
		if o.many != nil {
			o.many = &ownerValues{values: slices.Clone(o.many.values), index: maps.Clone(o.many.index), collided: maps.Clone(o.many.collided)}
		}
		c.owners[owner] = o
	}
	return c
}

// mergeInParts merges x into s as a transfer stream does: its values in parts of about budget bytes
// (through the codec), merged one by one, then the extract without values; between runs after each part.
func mergeInParts(s *state, x *extract, budget int, between func()) (joins, leaves []*value, err error) {
	parts := newExtractParts(x, budget)
	got := newTagSet()
	unknown := make(map[replicaRef]struct{})
	for {
		body, _, last, err := parts.nextPayload()
		if err != nil {
			return nil, nil, err
		}
		if last {
			fx, err := unmarshalExtract(body)
			if err != nil {
				return nil, nil, err
			}
			j, l := s.mergeExtractParts(fx, got, unknown)
			return append(joins, j...), l, nil
		}
		values, err := unmarshalPart(body)
		if err != nil {
			return nil, nil, err
		}
		joins = append(joins, got.merged(s, values, unknown)...)
		if between != nil {
			between()
		}
	}
}

// netDiff renders the net effect of joins and leaves, sorted: +tag for a value that joined and did not
// leave, -tag for one that left and had not joined.
func netDiff(joins, leaves []*value) string {
	n := make(map[tag]int)
	for _, v := range joins {
		n[v.tag]++
	}
	for _, v := range leaves {
		n[v.tag]--
	}
	var out []string
	for t, c := range n {
		switch {
		case c > 0:
			out = append(out, fmt.Sprintf("+%v@%d", t.replica, t.clock))
		case c < 0:
			out = append(out, fmt.Sprintf("-%v@%d", t.replica, t.clock))
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
