package tracker

import (
	"math/rand/v2"
	"testing"
)

// A tagSet answers as a map of the same tags would, whatever the order the tags come in (sorted, as
// senders send them, or not, with repeats).
func TestTagSetIsASet(t *testing.T) {
	refs := []replicaRef{{Name: "a", Vsn: 1}, {Name: "a", Vsn: 2}, {Name: "b", Vsn: 1}}
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 0))
		ts := newTagSet()
		want := map[tag]struct{}{}
		n := rng.IntN(500)
		sorted := seed%2 == 0
		for i := range n {
			clock := uint64(rng.IntN(300)) + 1
			if sorted {
				clock = uint64(i/len(refs)) + 1
			}
			tg := tag{replica: refs[rng.IntN(len(refs))], clock: clock}
			ts.add(tg)
			want[tg] = struct{}{}
			if i%97 == 0 { // reads between adds
				if !ts.has(tg) {
					t.Fatalf("seed %d: %v added, not had", seed, tg)
				}
			}
		}
		if ts.len() != n {
			t.Fatalf("seed %d: len %d, want %d", seed, ts.len(), n)
		}
		for _, ref := range append(refs, replicaRef{Name: "c", Vsn: 1}) {
			for clock := uint64(0); clock <= 310; clock++ {
				tg := tag{replica: ref, clock: clock}
				if _, ok := want[tg]; ts.has(tg) != ok {
					t.Fatalf("seed %d: has(%v) = %v, want %v", seed, tg, !ok, ok)
				}
			}
		}
	}
	var none *tagSet
	if none.has(tag{replica: refs[0], clock: 1}) || none.len() != 0 {
		t.Fatal("the nil tagSet is not empty")
	}
}
