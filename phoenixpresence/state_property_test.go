package phoenixpresence

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/phxgo/pubsub/internal/etf"
)

// Property test of the CRDT: replicas run random joins, leaves and updates and gossip their deltas
// and full states, through the wire codec, over a network that drops, duplicates and reorders messages
// (even on one link, which Redis never does for one publisher: a stronger test than Phoenix needs;
// Phoenix's own {topic, pid, key}-keyed table fails it, see state). Merges
// must be idempotent, commutative and associative, and after a final anti-entropy round (full-state
// transfers both ways, as transfer_req brings about) every replica must list exactly the presences the
// replicas own. Reproduce a failure with PPRES_SEED=N; PPRES_SEEDS sets the number of seeds.

type simReplica struct {
	st   *state
	reps *replicas
	pids []etf.Pid
	n    int
}

// link holds the encoded gossip terms in flight from one replica to another.
type link struct {
	from, to int
	queue    [][]byte
}

// wire encodes and decodes m as the network would.
func wire(t *testing.T, m *message) []byte {
	b, err := (&etf.Encoder{}).Append(nil, encoder{mapSetVersion: true}.messageTerm(m))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unwire(t *testing.T, b []byte) *message {
	v, err := etf.Decode(b, etf.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeMessage(v, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newSim(n int) []*simReplica {
	out := make([]*simReplica, n)
	for i := range out {
		ref := replicaRef{Name: fmt.Sprintf("r%d@host", i), Vsn: int64(1000 + i)}
		st := newState(ref)
		st.sizes = []int{2, 8, 32} // small, so that generations restart often
		out[i] = &simReplica{st: st, reps: &replicas{st: st, byName: map[string]*remote{}}}
		for p := 0; p < 3; p++ {
			out[i].pids = append(out[i].pids, etf.Pid{Node: etf.Atom(ref.Name), ID: uint32(p + 1), Creation: 7})
		}
	}
	// Every replica knows every other (their heartbeats arrived).
	for _, r := range out {
		for _, o := range out {
			if o != r {
				var c changes
				r.reps.heartbeat(o.st.replica, timeZero, &c)
			}
		}
	}
	return out
}

// deliver merges a message into replica r.
func (r *simReplica) deliver(t *testing.T, b []byte) {
	m := unwire(t, b)
	if m.State != nil {
		r.st.mergeGossip(m.State)
	}
}

// localOp runs a random join, leave or update on r.
func (r *simReplica) localOp(rng *rand.Rand) {
	own := slices.Collect(maps.Keys(r.st.own))
	slices.SortFunc(own, func(a, b vkey) int { return compareTag(r.st.own[a], r.st.own[b]) })
	switch op := rng.IntN(4); {
	case op <= 1 || len(own) == 0:
		r.n++
		pid := r.pids[rng.IntN(len(r.pids))]
		topic := fmt.Sprintf("t%d", rng.IntN(2))
		key := fmt.Sprintf("k%d", rng.IntN(4))
		if _, taken := r.st.own[vkey{Topic: topic, Pid: pid, KeyID: key}]; taken {
			return
		}
		r.st.join(pid, topic, key, key, etf.Map{{Key: atomPhxRef, Value: strconv.Itoa(r.n)}})
	case op == 2:
		r.st.leave(own[rng.IntN(len(own))])
	default:
		r.n++
		r.st.leaveJoin(own[rng.IntN(len(own))], etf.Map{{Key: atomPhxRef, Value: strconv.Itoa(r.n)}})
	}
}

// view is what a replica lists: every value by its tag, with its meta's phx_ref.
func view(st *state) map[tag]string {
	out := map[tag]string{}
	for _, v := range st.values {
		out[v.Tag], _ = goMeta(v.Meta)["phx_ref"].(string)
	}
	return out
}

// owned is the truth: the values each replica owns.
func truth(sim []*simReplica) map[tag]string {
	out := map[tag]string{}
	for _, r := range sim {
		for t, ref := range view(r.st) {
			if t.Replica == r.st.replica {
				out[t] = ref
			}
		}
	}
	return out
}

// transfer is from's answer to to's transfer_req: a delta generation or the full state.
func transfer(t *testing.T, from, to *simReplica) []byte {
	return wire(t, &message{Kind: msgTransferAck, From: from.st.replica, Ref: etf.Atom("r"),
		State: from.st.transfer(to.st.clocks().Context)})
}

func fullState(t *testing.T, from, to *simReplica) []byte {
	return wire(t, &message{Kind: msgTransferAck, From: from.st.replica, Ref: etf.Atom("r"),
		State: from.st.extract(to.st.clocks().Context)})
}

func seeds(t *testing.T) []uint64 {
	if s := os.Getenv("PPRES_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return []uint64{n}
	}
	n := 300
	if testing.Short() {
		n = 50
	}
	if s := os.Getenv("PPRES_SEEDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

func TestStateConverges(t *testing.T) {
	for _, seed := range seeds(t) {
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b9))
		sim := newSim(2 + rng.IntN(3))
		links := map[[2]int]*link{}
		var busy []*link // links with something queued
		send := func(from, to int, b []byte) {
			l := links[[2]int{from, to}]
			if l == nil {
				l = &link{from: from, to: to}
				links[[2]int{from, to}] = l
			}
			if len(l.queue) == 0 {
				busy = append(busy, l)
			}
			l.queue = append(l.queue, b)
		}
		for step := 0; step < 150; step++ {
			ri := rng.IntN(len(sim))
			r := sim[ri]
			switch x := rng.IntN(10); {
			case x < 5:
				r.localOp(rng)
			case x < 7: // heartbeat: the delta to every other replica, some dropped, some duplicated
				if !r.st.hasDelta() {
					continue
				}
				b := wire(t, &message{Kind: msgHeartbeat, From: r.st.replica, State: r.st.takeDelta(), Clocks: r.st.clocks()})
				for i, o := range sim {
					if o == r || rng.IntN(5) == 0 { // dropped
						continue
					}
					send(ri, i, b)
					if rng.IntN(10) == 0 { // duplicated
						send(ri, i, b)
					}
				}
			case x < 9: // deliver a message in flight, taken at random
				if len(busy) == 0 {
					continue
				}
				i := rng.IntN(len(busy))
				l := busy[i]
				j := rng.IntN(len(l.queue))
				b := l.queue[j]
				if l.queue = slices.Delete(l.queue, j, j+1); len(l.queue) == 0 {
					busy = slices.Delete(busy, i, i+1)
				}
				sim[l.to].deliver(t, b)
			default: // a transfer from r to another
				if oi := rng.IntN(len(sim)); oi != ri {
					send(ri, oi, transfer(t, r, sim[oi]))
				}
			}
		}
		// What is still in flight arrives, or not.
		for _, l := range busy {
			for _, b := range l.queue {
				if rng.IntN(2) == 0 {
					sim[l.to].deliver(t, b)
				}
			}
		}
		// Transfers as replicas would ask for them (deltas where a generation covers the asker), then
		// anti-entropy: full states both ways between every pair, twice.
		for _, a := range sim {
			for _, b := range sim {
				if a != b {
					b.deliver(t, transfer(t, a, b))
				}
			}
		}
		for round := 0; round < 2; round++ {
			for _, a := range sim {
				for _, b := range sim {
					if a != b {
						b.deliver(t, fullState(t, a, b))
					}
				}
			}
		}
		want := truth(sim)
		for i, r := range sim {
			if got := view(r.st); !maps.Equal(got, want) {
				for _, o := range sim {
					for tg, v := range o.st.values {
						if _, ok := got[tg]; !ok && tg.Replica == o.st.replica {
							t.Logf("missing %v %+v; in replica %d's context or clouds: %v", tg, v.vkey(), i, in(r.st.causal, r.st.clouds, tg))
						}
					}
				}
				t.Fatalf("seed %d: replica %d lists %v, the replicas own %v", seed, i, got, want)
			}
		}
	}
}

// Merging is idempotent, commutative and associative: a replica that merges the full states of A and
// B in either order, once or twice, or A's after A merged B's, ends with the same values and context.
func TestMergeLaws(t *testing.T) {
	for _, seed := range seeds(t) {
		rng := rand.New(rand.NewPCG(seed, 42))
		sim := newSim(4)
		a, b := sim[0], sim[1]
		for i := 0; i < 20; i++ {
			a.localOp(rng)
			b.localOp(rng)
			if rng.IntN(3) == 0 { // some shared history
				b.deliver(t, fullState(t, a, b))
			}
		}
		c1, c2 := newSim(4)[2], newSim(4)[3]
		fa1, fb1 := fullState(t, a, c1), fullState(t, b, c1)
		c1.deliver(t, fa1)
		c1.deliver(t, fb1)
		c1.deliver(t, fb1) // idempotent
		fa2, fb2 := fullState(t, a, c2), fullState(t, b, c2)
		c2.deliver(t, fb2)
		c2.deliver(t, fa2)
		c2.deliver(t, fa2)
		if v1, v2 := view(c1.st), view(c2.st); !maps.Equal(v1, v2) {
			t.Fatalf("seed %d: A then B gives %v, B then A %v", seed, v1, v2)
		}
		if !maps.Equal(c1.st.causal, c2.st.causal) {
			t.Fatalf("seed %d: contexts %v and %v", seed, c1.st.causal, c2.st.causal)
		}
		// Associativity: (A ⊔ B) merged at once equals A then B.
		a.deliver(t, fullState(t, b, a))
		c3 := newSim(4)[2]
		c3.deliver(t, fullState(t, a, c3))
		if v1, v3 := view(c1.st), view(c3.st); !maps.Equal(v1, v3) {
			t.Fatalf("seed %d: A then B gives %v, A⊔B %v", seed, v1, v3)
		}
	}
}
