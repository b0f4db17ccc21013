package pubsub

import "testing"

// add reports the topic's first subscription on this node and remove its last, through every form a
// topic takes: compact, with others, with metadata, with duplicates, indexed past indexAt, and back.
func TestRegistryCreatedDeleted(t *testing.T) {
	r := newRegistry(4)
	subs := make([]*Subscriber, indexAt+4)
	for i := range subs {
		subs[i] = &Subscriber{id: uint64(i)}
	}
	a, b := subs[0], subs[1]
	check := func(what string, got, want bool) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	count := func() int {
		n := 0
		p := r.partition("t")
		if p.one["t"] != nil {
			n++
		}
		if ts := p.many["t"]; ts != nil {
			for _, sub := range ts.subs {
				n++
				if sub.dups != nil {
					n += len(*sub.dups)
				}
			}
		}
		return n
	}

	check("first add", r.add("t", a, nil), true)
	check("second subscriber", r.add("t", b, nil), false)
	check("duplicate with metadata", r.add("t", a, "m"), false)
	if n := count(); n != 3 {
		t.Fatalf("%d subscriptions, want 3", n)
	}
	check("remove a (and its duplicate)", r.remove("t", a), false)
	if r.partition("t").one["t"] != b {
		t.Fatal("one plain subscription left, not back to the compact form")
	}
	check("remove b", r.remove("t", b), true)
	if r.has("t") {
		t.Fatal("topic still there")
	}

	check("first add with metadata", r.add("t", a, "m"), true)
	check("remove it", r.remove("t", a), true)

	for i, s := range subs { // past indexAt: the topic indexes its subscribers
		check("add", r.add("t", s, nil), i == 0)
	}
	if r.partition("t").many["t"].index == nil {
		t.Fatal("no index past indexAt subscribers")
	}
	for i := len(subs) - 1; i >= 0; i -= 2 {
		check("remove", r.remove("t", subs[i]), false)
	}
	for i := len(subs) - 2; i >= 0; i -= 2 {
		check("remove", r.remove("t", subs[i]), i == 0)
	}
	if r.has("t") || count() != 0 {
		t.Fatal("topic still there")
	}
}
