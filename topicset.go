package pubsub

// A subscriber keeps the topics it holds subscriptions to, for Unsubscribe and Close. Most subscribers
// (one per connection) hold one topic or a few, so the first is kept inline (Subscriber.topic) and a
// map is made, in the subscriber's hooks, only for the others. subsMu is held for all of these.

// addTopic records topic; recording it again is a no-op. (One map probe for a subscriber's second and
// later topics: an insert of a present key changes nothing.)
func (s *Subscriber) addTopic(topic string) {
	switch {
	case s.topic == topic:
	case s.topic == "" && !s.hasMoreTopic(topic):
		s.topic = topic
	default:
		h := s.hooksLocked()
		if h.topics == nil {
			h.topics = make(map[string]struct{})
		}
		h.topics[topic] = struct{}{}
	}
}

func (s *Subscriber) hasMoreTopic(topic string) bool {
	if s.hooks == nil {
		return false
	}
	_, ok := s.hooks.topics[topic]
	return ok
}

// removeTopic forgets topic and reports whether it was recorded (with one map probe).
func (s *Subscriber) removeTopic(topic string) bool {
	if s.topic == topic {
		s.topic = ""
		return true
	}
	if s.hooks == nil || s.hooks.topics == nil {
		return false
	}
	n := len(s.hooks.topics)
	delete(s.hooks.topics, topic)
	switch len(s.hooks.topics) {
	case n:
		return false
	case 0:
		s.hooks.topics = nil // give the map back
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
	if s.hooks != nil {
		for topic := range s.hooks.topics {
			topics = append(topics, topic)
		}
		s.hooks.topics = nil
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
