package tracker

import (
	"slices"
	"testing"
	"time"
)

func deltaKeys(d *delta) []string {
	var out []string
	for _, v := range d.values {
		out = append(out, v.key)
	}
	slices.Sort(out)
	return out
}

func deltaDots(d *delta) []string {
	var out []string
	for ref, c := range d.clouds {
		for clock := range c {
			out = append(out, tagString(tag{ref, clock}))
		}
	}
	slices.Sort(out)
	return out
}

func tagString(t tag) string { return t.replica.Name + ":" + string(rune('0'+t.clock)) }

func checkGen(t *testing.T, g *deltaGenerations, i int, keys, dots []string) {
	t.Helper()
	eqSlice(t, "gen keys", deltaKeys(g.gens[i]), keys)
	eqSlice(t, "gen dots", deltaDots(g.gens[i]), dots)
}

// Phoenix "generations".
func TestDeltaGenerationsPush(t *testing.T) {
	s1, s2 := newNamedState("s1"), newNamedState("s2")
	g := newDeltaGenerations([]int{2, 5, 6})
	mustJoinState(t, s1, "lobby", "o", "user1", nil)
	d := s1.takeDelta()
	g.push(s1, d)
	for i := range 3 {
		checkGen(t, g, i, []string{"user1"}, []string{"s1:1"})
	}
	before := []string{deltaString(g.gens[0]), deltaString(g.gens[1]), deltaString(g.gens[2])}
	g.push(s1, d) // duplicates have no effect
	for i := range 3 {
		if deltaString(g.gens[i]) != before[i] {
			t.Fatal("pushing a duplicate changed a generation")
		}
	}

	mustJoinState(t, s1, "lobby", "o", "user2", nil)
	g.push(s1, s1.takeDelta())
	checkGen(t, g, 0, []string{"user2"}, []string{"s1:2"})
	checkGen(t, g, 1, []string{"user1", "user2"}, []string{"s1:1", "s1:2"})
	checkGen(t, g, 2, []string{"user1", "user2"}, []string{"s1:1", "s1:2"})

	mustJoinState(t, s1, "lobby", "o", "user3", nil)
	d3 := s1.takeDelta()
	g.push(s1, d3)
	if g.gens[0] != d3 {
		t.Fatal("the smallest generation should be the new delta itself")
	}
	checkGen(t, g, 0, []string{"user3"}, []string{"s1:3"})
	checkGen(t, g, 1, []string{"user2", "user3"}, []string{"s1:2", "s1:3"})
	checkGen(t, g, 2, []string{"user1", "user2", "user3"}, []string{"s1:1", "s1:2", "s1:3"})

	mustJoinState(t, s1, "lobby", "o", "user4", nil)
	g.push(s1, s1.takeDelta())
	checkGen(t, g, 0, []string{"user4"}, []string{"s1:4"})
	checkGen(t, g, 1, []string{"user3", "user4"}, []string{"s1:3", "s1:4"})
	checkGen(t, g, 2, []string{"user2", "user3", "user4"}, []string{"s1:2", "s1:3", "s1:4"})

	// remote deltas
	mustJoinState(t, s2, "lobby", "o5", "user5", nil)
	g.push(s1, s2.delta)
	checkGen(t, g, 0, []string{"user5"}, []string{"s2:1"})
	checkGen(t, g, 1, []string{"user4", "user5"}, []string{"s1:4", "s2:1"})
	checkGen(t, g, 2, []string{"user3", "user4", "user5"}, []string{"s1:3", "s1:4", "s2:1"})

	// tombstones
	s2.leaveOwner("o5")
	g.push(s1, s2.delta)
	checkGen(t, g, 0, nil, []string{"s2:1", "s2:2"})
	checkGen(t, g, 1, []string{"user4"}, []string{"s1:4", "s2:1", "s2:2"})
	checkGen(t, g, 2, []string{"user3", "user4"}, []string{"s1:3", "s1:4", "s2:1", "s2:2"})
}

// Phoenix "does not include non-contiguous deltas".
func TestDeltaGenerationsSkipNonContiguous(t *testing.T) {
	s1, s3 := newNamedState("s1"), newNamedState("s3")
	g := newDeltaGenerations([]int{5, 10, 15})
	mustJoinState(t, s1, "lobby", "o1", "user1", nil)
	mustJoinState(t, s3, "lobby", "o3", "user3", nil)
	old := s3.takeDelta()
	mustJoinState(t, s3, "lobby", "o3", "user3b", nil)
	s3.takeDelta() // lost
	mustJoinState(t, s3, "lobby", "o3", "user3c", nil)

	g.push(s1, old)
	gen1 := deltaString(g.gens[0])
	if deltaString(g.gens[1]) != gen1 || deltaString(g.gens[2]) != gen1 {
		t.Fatal("generations differ")
	}
	eqSlice(t, "keys", deltaKeys(g.gens[0]), []string{"user1", "user3"})
	g.push(s1, s3.delta)
	for i := range 3 {
		if deltaString(g.gens[i]) != gen1 {
			t.Fatalf("generation %d took a non-contiguous delta", i)
		}
	}
}

func TestDeltaGenerationsExtract(t *testing.T) {
	a, b := newNamedState("a"), newNamedState("b")
	upAll(t, a, b)
	g := newDeltaGenerations([]int{2, 4, 100})
	var deltas []*delta
	for _, k := range []string{"1", "2", "3", "4", "5"} {
		mustJoinState(t, a, "t", "o", k, nil)
		d := a.takeDelta()
		deltas = append(deltas, d)
		g.push(a, d)
	}
	// b got the first three deltas: the smallest generation that starts at or before its clock is enough.
	for _, d := range deltas[:3] {
		b.mergeDelta(d)
	}
	_, bctx := b.clocks()
	d, x := g.extract(a, b.ref(), bctx)
	if x != nil || d == nil {
		t.Fatal("full extract where a generation fits")
	}
	eqSlice(t, "keys", deltaKeys(d), []string{"4", "5"})
	if joins, _ := b.mergeDelta(d); len(joins) != 2 {
		t.Fatal("generation delta did not bring the missing joins")
	}
	// b missed everything: only the largest generation reaches back far enough.
	c := newNamedState("c")
	upAll(t, a, c)
	_, cctx := c.clocks()
	d, _ = g.extract(a, c.ref(), cctx)
	eqSlice(t, "keys", deltaKeys(d), []string{"1", "2", "3", "4", "5"})
	// up to date: nothing fits, the full state is sent
	_, bctx = b.clocks()
	if d, x = g.extract(a, b.ref(), bctx); d != nil || x == nil {
		t.Fatal("want a full extract")
	}
	// after a reset there is nothing to serve from
	g.reset()
	if d, x = g.extract(a, c.ref(), cctx); d != nil || x == nil || len(x.values) != 5 {
		t.Fatal("want a full extract after reset")
	}
}

// Phoenix #55 / PR #60: a permdowned replica must not come back from the generations.
func TestDeltaGenerationsRemoveDownReplica(t *testing.T) {
	a, b, c := newNamedState("a"), newNamedState("b"), newNamedState("c")
	upAll(t, a, b, c)
	g := newDeltaGenerations(nil)
	mustJoinState(t, b, "t", "zombie", "z", nil)
	bd := b.takeDelta()
	a.mergeDelta(bd)
	g.push(a, bd) // remote deltas go into the generations too
	mustJoinState(t, a, "t", "o", "a1", nil)
	g.push(a, a.takeDelta())

	a.replicaDown(b.ref())
	a.removeDownReplica(b.ref(), time.Now())
	g.removeDownReplica(b.ref())
	for i, gen := range g.gens {
		if gen.has(b.ref()) {
			t.Fatalf("generation %d still holds the permdowned replica", i)
		}
	}
	// c, which never permdowned b, asks a for a transfer: b's values must not be served.
	_, cctx := c.clocks()
	d, x := g.extract(a, c.ref(), cctx)
	if d == nil {
		t.Fatal("want a generation")
	}
	eqSlice(t, "keys", deltaKeys(d), []string{"a1"})
	_ = x

	// A late delta carrying b is pruned on the way in.
	mustJoinState(t, b, "t", "zombie", "z2", nil)
	g.push(a, b.takeDelta())
	for i, gen := range g.gens {
		if gen.has(b.ref()) {
			t.Fatalf("generation %d took a permdowned replica's delta", i)
		}
	}
}
