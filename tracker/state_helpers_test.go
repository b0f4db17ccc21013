package tracker

// join is joinMeta with the meta as users give it: a map, whose "phx_ref" becomes the value's ref when it is
// a canonical ref.
func (s *state) join(topic, owner, key string, meta map[string]any) (*value, bool) {
	md, ref := splitRef(metaDataAll(meta))
	return s.joinMeta(topic, owner, key, packMeta(md), ref)
}

// leaveJoin is leaveJoinMeta with the meta as a map (see join).
func (s *state) leaveJoin(topic, owner, key string, meta map[string]any) (old, v *value, ok bool) {
	md, ref := splitRef(metaDataAll(meta))
	return s.leaveJoinMeta(topic, owner, key, packMeta(md), ref)
}

// renderMeta returns the value's metadata as Phoenix shows it, refs included (a fresh map).
func (v *value) renderMeta() map[string]any { return v.presence().WithRefs() }
