package tracker

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// Benchmarks of the CRDT alone. Targets (DESIGN: shard benchmarks measure end to end): merge of two
// 100 000-value states <= 100 ms, List of a 10 000-presence topic <= 1 ms, <= 300 B per presence held at
// 1 M presences, local Join >= 500 k/s on one core.
//
//	go test -run '^$' -bench . -benchmem ./tracker/

var (
	benchNamesOnce sync.Once
	benchOwners    []string // "sub-0000000"…, like subscriber ids
	benchKeys      []string // "user:0"…
	benchTopics    []string // "room:0"…
)

func benchNames() {
	benchNamesOnce.Do(func() {
		const n = 1 << 20
		benchOwners = make([]string, n)
		benchKeys = make([]string, n)
		for i := range n {
			benchOwners[i] = fmt.Sprintf("sub-%07d", i)
			benchKeys[i] = "user:" + strconv.Itoa(i)
		}
		benchTopics = make([]string, 1000)
		for i := range benchTopics {
			benchTopics[i] = "room:" + strconv.Itoa(i)
		}
	})
}

// fillState tracks n presences in s, spread over topics (one owner and key each), resetting the delta as
// heartbeats would.
func fillState(s *state, n, topics int, meta func(i int) map[string]any) {
	benchNames()
	for i := range n {
		var m map[string]any
		if meta != nil {
			m = meta(i)
		}
		s.join(benchTopics[i%topics], benchOwners[i%len(benchOwners)], benchKeys[i/len(benchOwners)+i%len(benchKeys)], m)
		if i%10_000 == 9_999 {
			s.takeDelta()
		}
	}
	s.takeDelta()
}

func BenchmarkJoin(b *testing.B) {
	benchNames()
	s := newState(namedRef("a"))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.join(benchTopics[i%len(benchTopics)], benchOwners[i%len(benchOwners)], benchKeys[(i/len(benchOwners))%len(benchKeys)], nil)
		i++
		if i%10_000 == 0 {
			s.takeDelta() // a heartbeat
		}
		if i%len(benchOwners) == 0 {
			b.StopTimer()
			s = newState(namedRef("a"))
			b.StartTimer()
		}
	}
}

func BenchmarkLeaveJoin(b *testing.B) {
	s := newState(namedRef("a"))
	fillState(s, 10_000, 100, nil)
	meta := map[string]any{"status": "away"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := i % 10_000
		s.leaveJoin(benchTopics[j%100], benchOwners[j], benchKeys[j], meta)
		i++
		if i%10_000 == 0 {
			s.takeDelta()
		}
	}
}

// list10k returns a state with a 10 000-presence topic, half of them from another replica.
func list10k(b *testing.B) (*state, replicaRef) {
	a, r := newState(namedRef("a")), newState(namedRef("b"))
	a.replicaUp(r.ref())
	fillState(a, 5_000, 1, nil)
	for i := range 5_000 {
		r.join(benchTopics[0], benchOwners[500_000+i], benchKeys[i], nil)
	}
	_, ctx := a.clocks()
	a.mergeExtract(r.extract(a.ref(), ctx))
	if n := len(a.list(benchTopics[0])); n != 10_000 {
		b.Fatalf("topic has %d presences", n)
	}
	return a, r.ref()
}

func BenchmarkList10k(b *testing.B) {
	s, _ := list10k(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.list(benchTopics[0])
	}
}

// With a replica down, reads filter (5 000 of the 10 000 hidden).
func BenchmarkList10kOneReplicaDown(b *testing.B) {
	s, other := list10k(b)
	s.replicaDown(other)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.list(benchTopics[0])
	}
}

func BenchmarkGetByKeyIn10k(b *testing.B) {
	s, _ := list10k(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.getByKey(benchTopics[0], benchKeys[42])
	}
}

// twoStates returns two replicas that know each other, each holding n own presences over 1000 topics.
func twoStates(n int) (a, r *state) {
	a, r = newState(namedRef("a")), newState(namedRef("b"))
	a.replicaUp(r.ref())
	r.replicaUp(a.ref())
	fillState(a, n, 1000, nil)
	benchNames()
	for i := range n {
		r.join(benchTopics[i%1000], benchOwners[(i+n)%len(benchOwners)], benchKeys[i%len(benchKeys)], nil)
	}
	r.takeDelta()
	return a, r
}

func BenchmarkExtract100k(b *testing.B) {
	a, r := twoStates(100_000)
	_, ctx := a.clocks()
	b.ReportAllocs()
	for b.Loop() {
		_ = r.extract(a.ref(), ctx)
	}
}

// The merge of two 100 000-value states: r's full extract (BenchmarkExtract100k) merged into a
// (100 000 joins).
func BenchmarkMerge100k(b *testing.B) {
	_, r := twoStates(100_000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a := newState(namedRef("a"))
		a.replicaUp(r.ref())
		fillState(a, 100_000, 1000, nil)
		_, ctx := a.clocks()
		x := r.extract(a.ref(), ctx)
		runtime.GC()
		b.StartTimer()
		joins, _ := a.mergeExtract(x)
		if len(joins) != 100_000 {
			b.Fatalf("%d joins", len(joins))
		}
	}
}

// Merging the same 100 000-value extract again: no events, every value checked.
func BenchmarkMerge100kAgain(b *testing.B) {
	a, r := twoStates(100_000)
	_, ctx := a.clocks()
	x := r.extract(a.ref(), ctx)
	a.mergeExtract(x)
	b.ReportAllocs()
	for b.Loop() {
		if joins, leaves := a.mergeExtract(x); len(joins)+len(leaves) != 0 {
			b.Fatal("events")
		}
	}
}

// A heartbeat delta of 100 changes merged into a state of 200 000 values.
func BenchmarkMergeDelta100Into200k(b *testing.B) {
	a, r := twoStates(100_000)
	_, ctx := a.clocks()
	a.mergeExtract(r.extract(a.ref(), ctx))
	deltas := make([]*delta, 0, 64)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%64 == 0 {
			b.StopTimer()
			deltas = deltas[:0]
			for range 64 {
				for k := range 50 { // 50 updates = 50 joins + 50 leaves
					j := (i*50 + k) % 100_000
					r.leaveJoin(benchTopics[j%1000], benchOwners[(j+100_000)%len(benchOwners)], benchKeys[j%len(benchKeys)], nil)
				}
				deltas = append(deltas, r.takeDelta())
			}
			b.StartTimer()
		}
		a.mergeDelta(deltas[i%64])
		i++
	}
}

func BenchmarkMarshalDelta100(b *testing.B) {
	d := benchDelta(100)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		bs, err := marshalDelta(d)
		if err != nil {
			b.Fatal(err)
		}
		n = len(bs)
	}
	b.ReportMetric(float64(n), "bytes")
}

func BenchmarkUnmarshalDelta100(b *testing.B) {
	bs, err := marshalDelta(benchDelta(100))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(bs)))
	for b.Loop() {
		if _, err := unmarshalDelta(bs); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDelta(n int) *delta {
	s := newState(namedRef("node-a"))
	fillState(s, 0, 1, nil)
	for i := range n {
		s.join(benchTopics[i%10], benchOwners[i], benchKeys[i], map[string]any{"phx_ref": "F" + benchOwners[i], "online_at": int64(1_700_000_000 + i)})
	}
	return s.delta
}

func BenchmarkMarshalExtract100k(b *testing.B) {
	a, r := twoStates(100_000)
	_, ctx := a.clocks()
	x := r.extract(a.ref(), ctx)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		bs, err := marshalExtract(x)
		if err != nil {
			b.Fatal(err)
		}
		n = len(bs)
	}
	b.ReportMetric(float64(n), "bytes")
}

func BenchmarkUnmarshalExtract100k(b *testing.B) {
	a, r := twoStates(100_000)
	_, ctx := a.clocks()
	bs, err := marshalExtract(r.extract(a.ref(), ctx))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(bs)))
	for b.Loop() {
		if _, err := unmarshalExtract(bs); err != nil {
			b.Fatal(err)
		}
	}
}

// Memory held per presence at 1 M presences (runtime.ReadMemStats around building the state; the owner, key
// and topic strings are allocated beforehand and not counted). Variants: own presences (with the owner
// index), presences merged from another replica, and own presences each with its own one-entry meta map
// (what the tracker's phx_ref costs on top).
func BenchmarkMemoryPerPresence(b *testing.B) {
	const n = 1_000_000
	benchNames()
	for _, tc := range []struct {
		name  string
		build func() any
	}{
		{"own", func() any {
			s := newState(namedRef("a"))
			fillState(s, n, 1000, nil)
			return s
		}},
		{"remote", func() any {
			r := newState(namedRef("b"))
			fillState(r, n, 1000, nil)
			_, ctx := r.clocks()
			x := r.extract(namedRef("a"), ctx)
			r = nil
			s := newState(namedRef("a"))
			s.replicaUp(namedRef("b"))
			s.mergeExtract(x)
			return s
		}},
		{"own+meta", func() any {
			s := newState(namedRef("a"))
			fillState(s, n, 1000, func(i int) map[string]any { return map[string]any{"phx_ref": benchKeys[i%len(benchKeys)]} })
			return s
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var perPresence float64
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s := tc.build()
				runtime.GC()
				runtime.ReadMemStats(&after)
				perPresence = float64(after.HeapAlloc-before.HeapAlloc) / n
				runtime.KeepAlive(s)
			}
			b.ReportMetric(perPresence, "B/presence")
		})
	}
}
