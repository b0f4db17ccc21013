package phoenixpresence

import (
	"maps"
	"testing"

	"github.com/phxgo/pubsub/internal/etf"
)

// A replica that missed a few heartbeats gets them back as a delta generation; one too far behind
// (beyond the largest generation) gets the full state.
func TestTransferChoosesDelta(t *testing.T) {
	sim := newSim(2)
	a, b := sim[0], sim[1]
	a.st.sizes = []int{2, 6}
	join := func(i int) {
		pid := etf.Pid{Node: "r0@host", ID: uint32(i)}
		a.st.join(pid, "t", "k", "k", etf.Map{{Key: atomPhxRef, Value: string(rune('a' + i))}})
	}
	heartbeat := func() []byte {
		return wire(t, &message{Kind: msgHeartbeat, From: a.st.replica, Clocks: a.st.clocks(), State: a.st.takeDelta()})
	}
	join(0)
	b.deliver(t, heartbeat()) // b has a's first join
	join(1)
	heartbeat() // lost
	join(2)
	heartbeat() // lost
	m := unwire(t, transfer(t, a, b))
	lost := []tag{{a.st.replica, 2}, {a.st.replica, 3}}
	if !m.State.Delta || m.State.Values[lost[0]] == nil || m.State.Values[lost[1]] == nil || len(m.State.Values) > 3 {
		t.Fatalf("the answer is not a delta with the two lost joins: delta %v, values %v", m.State.Delta, m.State.Values)
	}
	b.st.mergeGossip(m.State)
	if !maps.Equal(view(a.st), view(b.st)) {
		t.Fatalf("after the delta transfer: a %v, b %v", view(a.st), view(b.st))
	}
	for i := 3; i < 12; i++ { // far more than the largest generation holds
		join(i)
		heartbeat()
	}
	m = unwire(t, transfer(t, a, b))
	if m.State.Delta {
		t.Fatalf("a delta answered a replica beyond every generation: %d values", len(m.State.Values))
	}
	b.st.mergeGossip(m.State)
	if !maps.Equal(view(a.st), view(b.st)) || len(b.st.gens) != 0 {
		t.Fatalf("after the full transfer: a %v, b %v, b's generations %d", view(a.st), view(b.st), len(b.st.gens))
	}
}
