// Package replay follows the sequence numbers of one stream of frames (one sender incarnation's
// broadcasts, or its direct frames to this node) with a bounded window, as IPsec and DTLS do: it tells
// a frame never seen (deliver it, even late) from one seen already (drop it), and notices numbers that
// never came (loss), without ever letting one frame stop the stream.
//
// A Window holds the highest number seen and, for the Size numbers up to it, which were seen. A frame
// above the window moves it; one inside it is new or a duplicate; one below it is too old to tell.
// Numbers skipped by a jump are holes: a hole filled later was a frame reordered in transit; a hole
// still open when it leaves the window, or after a grace period (Expire), is a lost frame.
//
// A Window is not safe for concurrent use. Its zero value is empty: the first number observed
// becomes its baseline, and numbers below the baseline are not holes (they were sent before this
// receiver listened).
package replay

import "math/bits"

// Size is how many numbers below the highest a Window remembers. Frames of one sender can be reordered
// by about as many broadcasts as it has in flight at once, so Size bounds the concurrency a stream can
// have without a late frame being judged too old.
const Size = 1024

// Verdict is what Observe decided about a number.
type Verdict uint8

const (
	// Next is a number above every number seen (or the first one): deliver.
	Next Verdict = iota
	// Late is a number inside the window not seen before: deliver (it was reordered in transit, or it
	// was given up for lost already).
	Late
	// Duplicate is a number seen already: drop.
	Duplicate
	// TooOld is a number below the window: nobody can tell whether it was seen.
	TooOld
)

func (v Verdict) String() string {
	switch v {
	case Next:
		return "next"
	case Late:
		return "late"
	case Duplicate:
		return "duplicate"
	case TooOld:
		return "too old"
	}
	return "Verdict(?)"
}

// Window is the state of one stream. See the package documentation.
type Window struct {
	started  bool
	highest  uint64
	reported uint64            // holes at or below this number are not counted (reported, or before the baseline)
	holes    int               // open holes counted: unseen numbers in (max(reported, highest-Size), highest)
	since    int64             // when the oldest counted hole opened (caller's clock); 0 without holes
	seen     [Size / 64]uint64 // bit n%Size: n, within the window, was seen
}

// Observe records number n, observed at time now (any monotonic unit the caller uses with Expire), and
// returns the verdict and how many numbers were given up for lost because the window moved past them
// unseen (report a gap when lost > 0). A Duplicate or TooOld number changes nothing.
func (w *Window) Observe(n uint64, now int64) (v Verdict, lost uint64) {
	if !w.started {
		w.Reset(n)
		return Next, 0
	}
	switch {
	case n > w.highest:
		lost = w.advance(n)
		if w.holes > 0 && w.since == 0 {
			w.since = now
		}
		return Next, lost
	case w.highest-n >= Size:
		return TooOld, 0
	case w.has(n):
		return Duplicate, 0
	}
	w.mark(n)
	if n > w.reported {
		w.holes--
		if w.holes == 0 {
			w.since = 0
		}
	}
	return Late, 0
}

// advance moves the window up to n (above highest) and marks n seen. It returns the holes that fell
// out of the window unreported, plus the numbers skipped that never entered it.
func (w *Window) advance(n uint64) (lost uint64) {
	d := n - w.highest
	if d >= Size {
		// Everything in the window leaves it; numbers between the old highest and the new window's
		// start never enter it.
		lost = uint64(w.holes)
		if start := n - Size + 1; start > w.highest+1 {
			lost += start - (w.highest + 1)
		}
		w.seen = [Size / 64]uint64{}
		newHoles := Size - 1
		if n-w.highest-1 < Size-1 {
			newHoles = int(n - w.highest - 1)
		}
		w.holes = newHoles
		if w.holes == 0 {
			w.since = 0
		}
		w.highest = n
		w.mark(n)
		return lost
	}
	for q := w.highest + 1; q <= n; q++ {
		if old := q - Size; q >= Size && old > w.reported && !w.has(old) {
			lost++
			w.holes--
		}
		w.unmark(q)
		if q != n {
			w.holes++
		}
	}
	if w.holes == 0 {
		w.since = 0
	}
	w.highest = n
	w.mark(n)
	return lost
}

// Expire gives up for lost every hole that has been open since before deadline, and returns how many
// that was (report a gap when it is more than 0). Frames that fill those holes later are still Late,
// not Duplicate: delivered, never reported twice.
func (w *Window) Expire(deadline int64) (lost uint64) {
	if w.holes == 0 || w.since == 0 || w.since > deadline {
		return 0
	}
	lost = uint64(w.holes)
	w.holes, w.since, w.reported = 0, 0, w.highest
	return lost
}

// Holes returns how many unseen numbers inside the window are not yet reported lost.
func (w *Window) Holes() int { return w.holes }

// Highest returns the highest number observed (0 before the first).
func (w *Window) Highest() uint64 { return w.highest }

// Reset makes n the baseline, as for a new stream: numbers below it are not holes.
func (w *Window) Reset(n uint64) {
	*w = Window{started: true, highest: n, reported: n - 1}
	if n == 0 {
		w.reported = 0
	}
	w.mark(n)
}

func (w *Window) has(n uint64) bool { return w.seen[n/64%(Size/64)]&(1<<(n%64)) != 0 }
func (w *Window) mark(n uint64)     { w.seen[n/64%(Size/64)] |= 1 << (n % 64) }
func (w *Window) unmark(n uint64)   { w.seen[n/64%(Size/64)] &^= 1 << (n % 64) }

// seenCount returns how many numbers of the window are marked (for tests).
func (w *Window) seenCount() int {
	c := 0
	for _, b := range w.seen {
		c += bits.OnesCount64(b)
	}
	return c
}
