package tracker

import (
	"fmt"
	"testing"
)

// The owner index is keyed by a hash of (topic, key): values whose hashes collide must still be found,
// and removing either must leave the other findable. Collisions are forced by filling the index by hand.
func TestOwnerIndexCollisions(t *testing.T) {
	o := &ownerValues{}
	var vals []*value
	for i := range 2 * smallSetMax {
		v := &value{topic: "t", owner: "o", key: fmt.Sprint("k", i)}
		vals = append(vals, v)
		o.add(v)
	}
	if o.index == nil {
		t.Fatal("no index past smallSetMax")
	}
	// Force a collision: a value whose hash slot holds another.
	a, b := vals[0], &value{topic: "t", owner: "o", key: "collider"}
	h := hashTopicKey(a.topic, a.key)
	o.values = append(o.values, b)
	o.index[h] = a
	if o.collided == nil {
		o.collided = make(map[topicKey]*value)
	}
	o.collided[topicKey{b.topic, b.key}] = b
	if o.find("t", "collider") != b || o.find("t", a.key) != a {
		t.Fatal("collided values not found")
	}
	o.remove(a)
	if o.find("t", a.key) != nil || o.find("t", "collider") != b {
		t.Fatal("after removing the indexed one: wrong finds")
	}
	o.remove(b)
	if o.find("t", "collider") != nil || o.collided != nil {
		t.Fatalf("after removing both: find %v, collided %v", o.find("t", "collider"), o.collided)
	}
	for _, v := range vals[1:] {
		if o.find(v.topic, v.key) != v {
			t.Fatalf("%s lost", v.key)
		}
	}
}
