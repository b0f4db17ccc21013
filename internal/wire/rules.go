package wire

// checkRules applies the addressing rules that hold for every frame, on both sides (see Envelope). It
// returns "" or a static description of the first broken rule, so the success path allocates nothing.
func checkRules(k Kind, origin string, inc *[16]byte, target, topic, dispatcher, ptype string, payloadLen int) string {
	switch {
	case !k.valid():
		return "unknown kind"
	case origin == "":
		return "empty origin"
	case *inc == [16]byte{}:
		return "zero incarnation"
	}
	switch k {
	case KindBroadcast, KindDirect:
		if topic == "" {
			return "empty topic"
		}
		if k == KindDirect && target == "" {
			return "direct frame without target"
		}
		if k == KindBroadcast && target != "" {
			return "broadcast frame with a target"
		}
	case KindProbe:
		if target != "" || topic != "" || dispatcher != "" || ptype != "" || payloadLen != 0 {
			return "probe frame with a target, topic, dispatcher, payload type or payload"
		}
	}
	return ""
}
