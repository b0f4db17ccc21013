package tracker

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// List shows exactly the topic's values, whatever mix of joins, leaves, returns of values that left (a
// replica down, then up), replacements and Lists came before: the first List of a topic renders it, later ones keep a listing up to date (a few leaves one
// by one, many by rendering anew, a listing dropped after many changes).
func TestListFollowsEveryChange(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		vs := newViews()
		held := map[*value]bool{}
		var all []*value
		n := 0
		newValue := func() *value {
			n++
			return &value{topic: "t", key: string(rune('a' + n%26)), owner: "o", meta: packMeta(metaEntries{{"n", int64(n)}}), ref: newRef()}
		}
		for step := range 400 {
			switch op := rng.IntN(10); {
			case op < 4: // joins, one or many
				k := 1 + rng.IntN(3)
				if rng.IntN(8) == 0 {
					k = 40
				}
				var joins []*value
				for range k {
					v := newValue()
					joins, all = append(joins, v), append(all, v)
					held[v] = true
				}
				if k > 1 && rng.IntN(2) == 0 {
					vs.joinTopic("t", joins)
				} else {
					vs.apply(joins, nil)
				}
			case op < 7 && len(held) > 0: // leaves, one or many
				var leaves []*value
				for _, v := range all {
					if held[v] && rng.IntN(4) == 0 {
						leaves = append(leaves, v)
						delete(held, v)
					}
				}
				vs.apply(nil, leaves)
			case op < 8 && rng.IntN(2) == 0: // presences that left come back, the same values (a replica up again)
				var back []*value
				for _, v := range all {
					if !held[v] && rng.IntN(3) == 0 {
						back = append(back, v)
						held[v] = true
					}
				}
				vs.apply(back, nil)
			case op < 8 && len(held) > 0: // a presence renewed
				for _, v := range all {
					if held[v] {
						w := newValue()
						vs.replace([]*value{v}, []*value{w})
						delete(held, v)
						held[w], all = true, append(all, w)
						break
					}
				}
			default: // Lists, one or several in a row
				for range 1 + rng.IntN(3) {
					var got, want []string
					for _, p := range vs.list("t") {
						got = append(got, p.Ref)
					}
					for v := range held {
						want = append(want, v.ref.String())
					}
					slices.Sort(got)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Fatalf("seed %d, step %d: List shows %d presences, want %d (%v / %v)", seed, step, len(got), len(want), got, want)
					}
				}
			}
		}
	}
}
