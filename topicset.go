package pubsub

// A subscriber keeps the topics it holds subscriptions to, for Unsubscribe and Close. Most subscribers
// (one per connection) hold one topic or a few: the first is kept inline (Subscriber.topic), the next
// few in an array in the subscriber's hooks, and only the others in a map there. subsMu is held for all
// of these.

// fewTopics is how many topics beyond the first a subscriber keeps without a map.
const fewTopics = 4

// addTopic records topic; recording it again is a no-op. Once the map exists, new topics go to it (one
// probe: inserting a present key changes nothing), so a topic is never in two places.
func (s *Subscriber) addTopic(topic string) {
	if s.topic == topic {
		return
	}
	h := s.hooks
	if h != nil {
		for _, t := range h.few {
			if t == topic {
				return
			}
		}
		if h.topics != nil {
			h.topics[topic] = struct{}{}
			return
		}
	}
	if s.topic == "" {
		s.topic = topic
		return
	}
	h = s.hooksLocked()
	for i := range h.few {
		if h.few[i] == "" {
			h.few[i] = topic
			return
		}
	}
	h.topics = map[string]struct{}{topic: {}}
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
