package tracker

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// refPush is the generations' push as it was before merging in place (Phoenix's DeltaGeneration.push,
// copying every generation at every push): the reference the in-place version must match.
func refPush(gens []*delta, sizes []int, s *state, d *delta) []*delta {
	if d == s.delta {
		d = d.clone()
	}
	for ref := range s.permdowned {
		d = d.withoutReplica(ref)
	}
	if len(gens) == 0 {
		seed := s.delta.clone()
		gens = make([]*delta, len(sizes))
		for i := range gens {
			gens[i] = seed
		}
	}
	prev := d
	for i, gen := range gens {
		merged, err := mergeDeltas(gen, d)
		if err != nil {
			prev = gen
			continue
		}
		if merged.size() <= sizes[i] {
			gens[i] = merged
		} else {
			gens[i] = prev
		}
		prev = merged
	}
	return gens
}

// Property: pushing deltas (own and remote, adds and removes, some pushed twice, some not contiguous) into
// generations merged in place gives, after every push, exactly the generations of the copying reference,
// and never modifies a pushed delta.
func TestDeltaGenerationsInPlaceMatchesReference(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		sizes := []int{1 + rng.IntN(4), 5 + rng.IntN(10), 20 + rng.IntN(30)}
		self, other := newNamedState("s1"), newNamedState("s2")
		self.replicaUp(other.ref())
		g := newDeltaGenerations(sizes)
		var ref []*delta
		var sent []*delta
		var sentStr []string
		for step := range 300 {
			st := self
			if rng.IntN(3) == 0 {
				st = other
			}
			switch own := st.ownerValues("o"); {
			case len(own) > 0 && rng.IntN(3) == 0:
				st.leave(own[0].topic, "o", own[0].key)
			default:
				st.join("lobby", "o", fmt.Sprint("k", step), nil)
			}
			var d *delta
			switch {
			case len(sent) > 0 && rng.IntN(10) == 0:
				d = sent[rng.IntN(len(sent))] // a duplicate, or not contiguous any more
			case st == self:
				d = self.takeDelta()
			default:
				d = other.takeDelta()
			}
			sent = append(sent, d)
			for _, gen := range g.gens { // the bounds fitsMerged relies on
				if contiguous(gen, d) {
					if m := gen.mergedSize(d); m < d.size() || m > gen.size()+d.size() {
						t.Fatalf("seed %d step %d: merged size %d outside [%d, %d]", seed, step, m, d.size(), gen.size()+d.size())
					}
				}
			}
			before := deltaString(d)
			sentStr = append(sentStr, before)
			g.push(self, d)
			ref = refPush(ref, sizes, self, d)
			if deltaString(d) != before {
				t.Fatalf("seed %d step %d: push modified the delta pushed", seed, step)
			}
			for i := range sizes {
				if got, want := deltaString(g.gens[i]), deltaString(ref[i]); got != want {
					t.Fatalf("seed %d step %d: generation %d (cap %d)\n got %s\nwant %s", seed, step, i, sizes[i], got, want)
				}
			}
		}
		for i, d := range sent { // no generation shares a pushed delta and changed it later
			if deltaString(d) != sentStr[i] {
				t.Fatalf("seed %d: delta %d changed after it was pushed", seed, i)
			}
		}
	}
}
