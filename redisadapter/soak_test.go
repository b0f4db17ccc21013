package redisadapter_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// The soak: three nodes send broadcasts and direct broadcasts from several goroutines each, for a
// while, through a real redis-server that is killed (SIGKILL) and restarted half way. Every message
// carries its origin, sending goroutine, stream and sequence numbers, and every receiver checks, as
// messages arrive:
//
//   - no duplicate and no reordering, ever: per stream (one goroutine's broadcasts, or its direct
//     broadcasts to one node) sequence numbers rise, and per goroutine a second counter that spans
//     its streams rises too (a node's frames keep their order across channels);
//   - no silent loss: a receiver may miss messages of a stream only if it received a pubsub.Gap on
//     GapTopic between the last message of that stream before the hole and the first after it, or if
//     the sender's call for each missing message returned an error (then it was never broadcast);
//   - at the end, every stream's last message arrived, under the same rule;
//   - nothing leaks: goroutines return to their starting count once the nodes are closed, and the heap
//     in use after GC stays bounded while traffic runs and after it ends.
//
// It runs 20 s (60 s with PHXGO_SOAK=long).
func TestSoak(t *testing.T) {
	dur := 20 * time.Second
	if os.Getenv("PHXGO_SOAK") == "long" {
		dur = 60 * time.Second
	}
	const (
		nodes   = 3
		senders = 3                    // goroutines per node
		pause   = 2 * time.Millisecond // between two sends of one goroutine
		outage  = 500 * time.Millisecond
	)
	srv := startRedis(t)
	name := uniqueName(t)
	goroutines0 := runtime.NumGoroutine()
	heap0 := heapInUse()

	ps := make([]*pubsub.PubSub, nodes)
	ads := make([]*redisadapter.Adapter, nodes)
	for i := range ps {
		ps[i], ads[i] = startNode(t, name, redisadapter.Config{URL: srv.URL(), NodeName: strconv.Itoa(i), ProbeInterval: 500 * time.Millisecond},
			pubsub.Config{})
	}
	checkers := make([]*soakChecker, nodes)
	var consumers sync.WaitGroup
	for i := range ps {
		s := newSub(t, ps[i], pubsub.WithMailboxSize(1<<16))
		s.Subscribe("soak")
		s.Subscribe(pubsub.GapTopic)
		c := newSoakChecker(i)
		checkers[i] = c
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			for msg := range s.C() { // until the PubSub closes
				c.handle(msg)
			}
			c.setDropped(s.Dropped())
		}()
	}

	// The senders.
	stop := make(chan struct{})
	var sending sync.WaitGroup
	sent := make([][]*soakSender, nodes)
	for o := range ps {
		for g := range senders {
			snd := &soakSender{origin: o, g: g, final: map[string]uint64{}, failed: map[string]map[uint64]bool{}}
			sent[o] = append(sent[o], snd)
			sending.Add(1)
			go func() {
				defer sending.Done()
				snd.run(ps[o], nodes, pause, stop)
			}()
		}
	}

	// Half way: kill Redis, and bring it back on the same port.
	time.Sleep(2 * time.Second)
	heapWarm := heapInUse()
	time.Sleep(dur/2 - 2*time.Second)
	srv.Kill()
	time.Sleep(outage)
	srv.Restart()
	time.Sleep(dur / 2)
	heapEnd := heapInUse()
	close(stop)
	sending.Wait()

	// Quiescence: every stream's last message has arrived, or its loss is accounted for.
	eventually(t, 15*time.Second, "every stream's tail to arrive or be accounted for", func() bool {
		for r, c := range checkers {
			if len(c.tailProblems(sent, r, false)) > 0 {
				return false
			}
		}
		return true
	})

	for _, p := range ps {
		p.Close()
	}
	consumers.Wait()

	var total, missedUnderGap, failed uint64
	for o := range sent {
		for _, snd := range sent[o] {
			failed += snd.failures
			total += snd.sends
		}
	}
	for r, c := range checkers {
		for _, problem := range c.problems(sent, r) {
			t.Error(problem)
		}
		missedUnderGap += c.missedUnderGap
		st := ads[r].Stats()
		t.Logf("node %d: received %d messages, %d gap reports, %d missed under a gap; adapter %+v", r, c.received, c.gaps, c.missedUnderGap, st)
		if st.Reconnects == 0 || c.gaps == 0 {
			t.Errorf("node %d: %d reconnects, %d gap reports; the restart should have caused both", r, st.Reconnects, c.gaps)
		}
		if c.afterRestart == 0 {
			t.Errorf("node %d received nothing after the restart", r)
		}
	}
	t.Logf("%d sends in %v (%d failed, during the outage), %d deliveries missed under reported gaps", total, dur, failed, missedUnderGap)

	// Leaks. Goroutines: go-redis's and ours all end with Close (a pool's background dialer may take up
	// to a second to notice).
	eventually(t, 10*time.Second, fmt.Sprintf("goroutines back to %d", goroutines0), func() bool {
		return runtime.NumGoroutine() <= goroutines0
	})
	// Heap in use after GC. While traffic flows, the working set is fixed: drained mailboxes, one
	// publisher queue bounded by its nine concurrent callers, pooled frame buffers, go-redis's
	// read/write buffers (tens of KiB per connection, a handful of connections per node), the
	// receivers' sequence state (one entry per peer incarnation) and this test's per-stream checker
	// state (a few dozen entries). 16 MiB is generous for all of it, yet a leak of even 40 bytes per
	// message (hundreds of thousands of them pass) would exceed it. After Close, everything of the
	// nodes is garbage: the heap returns to where it started, within the same margin.
	heapClosed := heapInUse()
	t.Logf("heap in use after GC: %d KiB before, %d KiB warm, %d KiB at the end, %d KiB after Close", heap0>>10, heapWarm>>10, heapEnd>>10, heapClosed>>10)
	const bound = 16 << 20
	if heapEnd > heapWarm+bound {
		t.Errorf("heap in use grew from %d KiB to %d KiB while traffic ran", heapWarm>>10, heapEnd>>10)
	}
	if heapClosed > heap0+bound {
		t.Errorf("heap in use is %d KiB after Close, %d KiB before the nodes started", heapClosed>>10, heap0>>10)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC() // a second cycle clears sync.Pools' victim caches
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// soakSender is one sending goroutine of one node.
type soakSender struct {
	origin, g int

	// Owned by run until it returns.
	final           map[string]uint64          // per stream, the last sequence number used
	failed          map[string]map[uint64]bool // per stream, the sequence numbers whose call failed
	sends, failures uint64
}

// run alternates a broadcast ("b" stream) and a direct broadcast to the next other node ("d<node>").
func (s *soakSender) run(ps *pubsub.PubSub, nodes int, pause time.Duration, stop <-chan struct{}) {
	var gseq uint64
	target := s.origin
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		stream := "b"
		if i%2 == 1 {
			if target = (target + 1) % nodes; target == s.origin {
				target = (target + 1) % nodes
			}
			stream = "d" + strconv.Itoa(target)
		}
		gseq++
		seq := s.final[stream] + 1
		s.final[stream] = seq
		payload := fmt.Sprintf("%d %d %s %d %d", s.origin, s.g, stream, seq, gseq)
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		var err error
		if stream == "b" {
			err = ps.Broadcast(c, "soak", payload)
		} else {
			err = ps.DirectBroadcast(c, strconv.Itoa(target), "soak", payload)
		}
		cancel()
		s.sends++
		if err != nil {
			s.failures++
			if s.failed[stream] == nil {
				s.failed[stream] = map[uint64]bool{}
			}
			s.failed[stream][seq] = true
		}
		time.Sleep(pause)
	}
}

// streamKey names a stream: origin node, sending goroutine, and "b" or "d<target>".
type streamKey struct {
	origin, g int
	stream    string
}

type streamState struct {
	last      uint64 // last sequence number received
	lastEpoch int    // the receiver's gap count when it arrived
}

// hole is a run of missing sequence numbers with no gap report around it: allowed only if the sender
// failed to send every one of them.
type hole struct {
	key      streamKey
	from, to uint64
}

// soakChecker checks one receiving node's messages as they arrive.
type soakChecker struct {
	node int

	mu             sync.Mutex
	streams        map[streamKey]*streamState
	gseq           map[[2]int]uint64 // per (origin, goroutine), the last cross-stream counter
	epoch          int               // gap reports so far
	holes          []hole
	errs           []string
	received       uint64
	gaps           int
	missedUnderGap uint64
	afterRestart   uint64 // messages received after the first gap report
	dropped        uint64
}

func newSoakChecker(node int) *soakChecker {
	return &soakChecker{node: node, streams: map[streamKey]*streamState{}, gseq: map[[2]int]uint64{}}
}

func (c *soakChecker) fail(format string, args ...any) {
	if len(c.errs) < 20 {
		c.errs = append(c.errs, fmt.Sprintf("node %d: ", c.node)+fmt.Sprintf(format, args...))
	}
}

func (c *soakChecker) setDropped(n uint64) {
	c.mu.Lock()
	c.dropped = n
	c.mu.Unlock()
}

func (c *soakChecker) handle(msg pubsub.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if msg.Topic == pubsub.GapTopic {
		c.epoch++
		c.gaps++
		return
	}
	c.received++
	if c.gaps > 0 {
		c.afterRestart++
	}
	p, _ := msg.Payload.(string)
	f := strings.Fields(p)
	if len(f) != 5 {
		c.fail("unexpected payload %#v", msg.Payload)
		return
	}
	origin, _ := strconv.Atoi(f[0])
	g, _ := strconv.Atoi(f[1])
	seq, _ := strconv.ParseUint(f[3], 10, 64)
	gseq, _ := strconv.ParseUint(f[4], 10, 64)
	key := streamKey{origin, g, f[2]}
	if f[2] != "b" && f[2] != "d"+strconv.Itoa(c.node) {
		c.fail("received %q, a direct broadcast for another node", p)
		return
	}
	og := [2]int{origin, g}
	if gseq <= c.gseq[og] {
		c.fail("node %d goroutine %d: message %d after message %d (duplicate or reordered across streams)", origin, g, gseq, c.gseq[og])
	}
	c.gseq[og] = gseq
	st := c.streams[key]
	if st == nil {
		st = &streamState{}
		c.streams[key] = st
	}
	switch {
	case seq <= st.last:
		c.fail("stream %v: %d after %d (duplicate or reordered)", key, seq, st.last)
	case seq > st.last+1 && c.epoch != st.lastEpoch:
		c.missedUnderGap += seq - st.last - 1
	case seq > st.last+1:
		c.holes = append(c.holes, hole{key, st.last + 1, seq - 1})
	}
	st.last, st.lastEpoch = max(st.last, seq), c.epoch
}

// expected lists the streams receiver r must see, with the senders' last sequence numbers.
func expected(sent [][]*soakSender, r int) map[streamKey]*soakSender {
	want := map[streamKey]*soakSender{}
	for o := range sent {
		for _, snd := range sent[o] {
			want[streamKey{o, snd.g, "b"}] = snd // own broadcasts are delivered locally
			if o != r {
				want[streamKey{o, snd.g, "d" + strconv.Itoa(r)}] = snd
			}
		}
	}
	return want
}

// allFailed reports whether the sender's call failed for every sequence number in [from, to].
func allFailed(snd *soakSender, stream string, from, to uint64) bool {
	for s := from; s <= to; s++ {
		if !snd.failed[stream][s] {
			return false
		}
	}
	return true
}

// tailProblems lists the streams whose last messages have not arrived and are not accounted for.
// Call it only after the senders have stopped.
func (c *soakChecker) tailProblems(sent [][]*soakSender, r int, verbose bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for key, snd := range expected(sent, r) {
		final := snd.final[key.stream]
		st := c.streams[key]
		if st == nil {
			st = &streamState{}
		}
		if st.last >= final || c.epoch != st.lastEpoch || allFailed(snd, key.stream, st.last+1, final) {
			continue
		}
		out = append(out, fmt.Sprintf("node %d: stream %v: last received %d of %d, no gap reported since", r, key, st.last, final))
		if !verbose {
			break
		}
	}
	return out
}

// problems lists everything that went wrong at receiver r. Call it after the senders have stopped.
func (c *soakChecker) problems(sent [][]*soakSender, r int) []string {
	out := c.tailProblems(sent, r, true)
	c.mu.Lock()
	defer c.mu.Unlock()
	out = append(out, c.errs...)
	want := expected(sent, r)
	for _, h := range c.holes {
		if snd := want[h.key]; snd == nil || !allFailed(snd, h.key.stream, h.from, h.to) {
			out = append(out, fmt.Sprintf("node %d: stream %v: messages %d..%d lost without a gap report (and their sends succeeded)", r, h.key, h.from, h.to))
		}
	}
	if c.dropped != 0 {
		out = append(out, fmt.Sprintf("node %d: the test's mailbox dropped %d messages: the check is void", r, c.dropped))
	}
	return out
}
