package pubsub

// A subscriber keeps the topics it holds subscriptions to, for Unsubscribe and Close. Most subscribers
// (one per connection) hold one topic or a few: the first is kept inline (Subscriber.topic), the next
// few in an array in the subscriber's hooks, and only the others in a map there. subsMu is held for all
// of these.

// fewTopics is how many topics beyond the first a subscriber keeps without a map.
const fewTopics = 4

// addTopic records topic; recording it again is a no-op.
func (s *Subscriber) addTopic(topic string) {
	if s.hasTopic(topic) {
		return
	}
	if s.topic == "" {
		s.topic = topic
		return
	}
	h := s.hooksLocked()
	for i := range h.few {
		if h.few[i] == "" {
			h.few[i] = topic
			return
		}
	}
	if h.topics == nil {
		h.topics = make(map[string]struct{})
	}
	h.topics[topic] = struct{}{}
}

func (s *Subscriber) hasTopic(topic string) bool {
	if s.topic == topic {
		return true
	}
	if s.hooks == nil {
		return false
	}
	for _, t := range s.hooks.few {
		if t == topic {
			return true
		}
	}
	_, ok := s.hooks.topics[topic]
	return ok
}

// removeTopic forgets topic and reports whether it was recorded (with at most one map probe).
func (s *Subscriber) removeTopic(topic string) bool {
	if s.topic == topic {
		s.topic = ""
		return true
	}
	h := s.hooks
	if h == nil {
		return false
	}
	for i, t := range h.few {
		if t == topic {
			h.few[i] = ""
			return true
		}
	}
	if h.topics == nil {
		return false
	}
	n := len(h.topics)
	delete(h.topics, topic)
	switch len(h.topics) {
	case n:
		return false
	case 0:
		h.topics = nil // give the map back
	}
	return true
}

// takeTopics forgets every topic and returns them.
func (s *Subscriber) takeTopics() []string {
	var topics []string
	if s.topic != "" {
		topics = append(topics, s.topic)
		s.topic = ""
	}
	if h := s.hooks; h != nil {
		for i, t := range h.few {
			if t != "" {
				topics = append(topics, t)
				h.few[i] = ""
			}
		}
		for topic := range h.topics {
			topics = append(topics, topic)
		}
		h.topics = nil
	}
	return topics
}

// hooksLocked returns s.hooks, made if need be.
func (s *Subscriber) hooksLocked() *hooks {
	if s.hooks == nil {
		s.hooks = &hooks{}
	}
	return s.hooks
}
