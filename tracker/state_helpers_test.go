package tracker

// join is joinMeta with the meta as users give it: a map, whose "phx_ref" and "phx_ref_prev" become the
// value's refs when they are canonical refs.
func (s *state) join(topic, owner, key string, meta map[string]any) (*value, bool) {
	md, ref, prev := splitRefs(metaDataAll(meta))
	return s.joinMeta(topic, owner, key, md, ref, prev)
}

// leaveJoin is leaveJoinMeta with the meta as a map (see join).
func (s *state) leaveJoin(topic, owner, key string, meta map[string]any) (old, v *value, ok bool) {
	md, ref, prev := splitRefs(metaDataAll(meta))
	return s.leaveJoinMeta(topic, owner, key, md, ref, prev)
}
