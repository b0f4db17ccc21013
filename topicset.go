package pubsub

// topicSet is the set of topics a subscriber holds subscriptions to, for Unsubscribe and Close. Most
// subscribers (one per connection) hold one topic or a few, so the first is kept inline and a map is
// made only for the others. The subscriber's subsMu guards it.
type topicSet struct {
	one  string              // "" when empty (a topic is never "")
	more map[string]struct{} // the others; nil when there are none
}

// add adds topic; adding it again is a no-op.
func (t *topicSet) add(topic string) {
	switch {
	case t.one == topic:
	case t.one == "" && !t.inMore(topic):
		t.one = topic
	default:
		if t.more == nil {
			t.more = make(map[string]struct{})
		}
		t.more[topic] = struct{}{}
	}
}

func (t *topicSet) inMore(topic string) bool {
	_, ok := t.more[topic]
	return ok
}

// remove removes topic and reports whether it was there.
func (t *topicSet) remove(topic string) bool {
	if t.one == topic {
		t.one = ""
		return true
	}
	if !t.inMore(topic) {
		return false
	}
	delete(t.more, topic)
	if len(t.more) == 0 {
		t.more = nil // give the map back
	}
	return true
}

// each calls f for every topic.
func (t *topicSet) each(f func(topic string)) {
	if t.one != "" {
		f(t.one)
	}
	for topic := range t.more {
		f(topic)
	}
}

// len returns the number of topics.
func (t *topicSet) len() int {
	n := len(t.more)
	if t.one != "" {
		n++
	}
	return n
}
