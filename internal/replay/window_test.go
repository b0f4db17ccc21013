package replay

import (
	"math"
	"math/rand/v2"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestInOrder(t *testing.T) {
	var w Window
	for n := uint64(1); n <= 10_000; n++ {
		if v, lost := w.Observe(n, 1); v != Next || lost != 0 {
			t.Fatalf("%d: %v, lost %d", n, v, lost)
		}
	}
	if w.Holes() != 0 || w.Expire(math.MaxInt64) != 0 {
		t.Fatalf("holes %d after an in-order stream", w.Holes())
	}
	for _, n := range []uint64{10_000, 9_999, 10_000 - Size + 1} {
		if v, _ := w.Observe(n, 2); v != Duplicate {
			t.Errorf("replayed %d: %v, want duplicate", n, v)
		}
	}
	if v, _ := w.Observe(10_000-Size, 2); v != TooOld {
		t.Errorf("number just below the window: %v, want too old", v)
	}
}

// The first number is the baseline: numbers below it are not holes, and arrive as late once.
func TestBaseline(t *testing.T) {
	var w Window
	w.Observe(500, 1)
	if w.Holes() != 0 {
		t.Fatalf("holes %d after the first number", w.Holes())
	}
	if v, _ := w.Observe(499, 1); v != Late {
		t.Errorf("499 after baseline 500: %v, want late", v)
	}
	if v, _ := w.Observe(499, 1); v != Duplicate {
		t.Errorf("499 again: %v, want duplicate", v)
	}
	if w.Holes() != 0 {
		t.Errorf("holes %d: numbers below the baseline are not holes", w.Holes())
	}
}

// Reordering within the window loses nothing and reports nothing: every number is delivered exactly
// once, and every replay is a duplicate.
func TestReorderedDeliversEachOnce(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 1))
		const total = 20_000
		order := make([]uint64, total)
		for i := range order {
			order[i] = uint64(i + 1)
		}
		// Shuffle within blocks: a number moves by less than the window.
		block := 1 + r.IntN(Size/2)
		for i := 0; i < total; i += block {
			end := min(i+block, total)
			r.Shuffle(end-i, func(a, b int) { order[i+a], order[i+b] = order[i+b], order[i+a] })
		}
		var w Window
		w.Observe(order[0], 0)
		delivered := map[uint64]bool{order[0]: true}
		for _, n := range order[1:] {
			v, lost := w.Observe(n, 0)
			if lost != 0 {
				t.Fatalf("seed %d: %d lost at %d", seed, lost, n)
			}
			if v != Next && v != Late {
				// Only numbers below the first one's baseline may be refused... none are, with blocks.
				if n < order[0] && order[0]-n >= Size {
					continue
				}
				t.Fatalf("seed %d: %d: %v", seed, n, v)
			}
			delivered[n] = true
			if v2, _ := w.Observe(n, 0); v2 != Duplicate {
				t.Fatalf("seed %d: replay of %d: %v", seed, n, v2)
			}
		}
		if w.Holes() != 0 {
			t.Errorf("seed %d: %d holes left", seed, w.Holes())
		}
	}
}

// Every number that never arrives is reported lost exactly once: when the window moves past it, or
// when it expires. A number given up for lost that arrives later is delivered as late, not reported.
func TestLossReportedOnce(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 2))
		const total = 30_000
		var w Window
		w.Observe(1, 0)
		var lost, dropped uint64
		var skipped []uint64
		for n := uint64(2); n <= total; n++ {
			if r.IntN(20) == 0 {
				dropped++
				skipped = append(skipped, n)
				continue
			}
			_, l := w.Observe(n, int64(n))
			lost += l
			if r.IntN(500) == 0 {
				lost += w.Expire(int64(n) - 100)
			}
		}
		lost += w.Expire(math.MaxInt64)
		for len(skipped) > 0 && skipped[len(skipped)-1] > w.Highest() {
			dropped-- // lost after the last number seen: nobody can notice those
			skipped = skipped[:len(skipped)-1]
		}
		if lost != dropped {
			t.Fatalf("seed %d: reported %d lost, %d were dropped", seed, lost, dropped)
		}
		// Late arrivals of lost numbers still inside the window are delivered, and never reported again.
		for _, n := range skipped {
			v, l := w.Observe(n, 0)
			if l != 0 || (v != Late && v != TooOld) {
				t.Fatalf("seed %d: late %d: %v, lost %d", seed, n, v, l)
			}
		}
		if w.Expire(math.MaxInt64) != 0 {
			t.Fatalf("seed %d: a hole was reported twice", seed)
		}
	}
}

func TestExpireWaitsForTheGrace(t *testing.T) {
	var w Window
	w.Observe(1, 0)
	w.Observe(3, 100) // 2 is a hole since 100
	if l := w.Expire(99); l != 0 {
		t.Fatalf("expired %d before the grace", l)
	}
	if l := w.Expire(100); l != 1 {
		t.Fatalf("expired %d, want 1", l)
	}
	if v, _ := w.Observe(2, 200); v != Late {
		t.Fatalf("2 after expiry: %v", v)
	}
	w.Observe(5, 300) // a new hole (4) opens a new grace period
	if l := w.Expire(299); l != 0 {
		t.Fatalf("expired %d of a hole opened at 300", l)
	}
	if v, _ := w.Observe(4, 400); v != Late || w.Holes() != 0 {
		t.Fatalf("4 fills the hole: %v, holes %d", v, w.Holes())
	}
	if l := w.Expire(math.MaxInt64); l != 0 {
		t.Fatalf("expired %d after the hole was filled", l)
	}
}

// A jump far ahead (a forged number, or a long loss) costs the window nothing but a report: it is
// bounded work, and the numbers behind it are too old, which the caller resolves by resetting.
func TestJumps(t *testing.T) {
	var w Window
	w.Observe(10, 0)
	v, lost := w.Observe(math.MaxUint64, 1)
	if v != Next || lost != math.MaxUint64-10-Size {
		t.Fatalf("jump to max: %v, lost %d", v, lost)
	}
	if w.Holes() != Size-1 || w.seenCount() != 1 {
		t.Fatalf("after the jump: holes %d, seen %d", w.Holes(), w.seenCount())
	}
	if v, _ := w.Observe(11, 2); v != TooOld {
		t.Fatalf("11 after the jump: %v", v)
	}
	w.Reset(11)
	if v, _ := w.Observe(12, 3); v != Next || w.Holes() != 0 {
		t.Fatalf("after reset: %v, holes %d", v, w.Holes())
	}
	// A jump of exactly the window size.
	var x Window
	x.Observe(1, 0)
	if _, lost := x.Observe(1+Size, 1); lost != 0 || x.Holes() != Size-1 {
		t.Fatalf("jump of Size: lost %d holes %d", lost, x.Holes())
	}
	// 2..Size left the window unseen, and Size+2 never entered it.
	if _, lost := x.Observe(2+2*Size, 2); lost != Size || x.Holes() != Size-1 {
		t.Fatalf("second jump: lost %d holes %d", lost, x.Holes())
	}
}

func TestZeroBaseline(t *testing.T) {
	var w Window
	w.Observe(0, 0)
	if v, _ := w.Observe(0, 0); v != Duplicate {
		t.Fatalf("0 twice: %v", v)
	}
	if v, _ := w.Observe(1, 0); v != Next || w.Holes() != 0 {
		t.Fatalf("1: %v holes %d", v, w.Holes())
	}
}

func BenchmarkObserveInOrder(b *testing.B) {
	var w Window
	for i := range b.N {
		w.Observe(uint64(i+1), 0)
	}
}
