package etf

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortSmallIsByteOrder: the prefix sort of small maps agrees with byte order, with keys that share
// long prefixes, end in zero bytes, or are empty.
func TestSortSmallIsByteOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"", "\x00", "a", "b", "\xff", "abcdefgh", "é"}
	for range 2000 {
		ps := make([]strPair, rng.IntN(smallMap+1))
		keys := make([]string, len(ps))
		for i := range ps {
			var k string
			for range rng.IntN(5) {
				k += alphabet[rng.IntN(len(alphabet))]
			}
			ps[i] = strPair{k: k, pre: prefix(k)}
			keys[i] = k
		}
		sortSmall(ps)
		slices.Sort(keys)
		for i := range ps {
			if ps[i].k != keys[i] {
				t.Fatalf("sorted %+v, want %q", ps, keys)
			}
		}
	}
}
