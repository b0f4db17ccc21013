package phoenixadapter

// Every node reads every frame of the channel, its own broadcasts and other nodes' direct broadcasts
// included, which the receive rule then skips. notForUs finds those from the frame's first bytes,
// without decoding the rest.

// frameHead is the start of every uncompressed frame: version 131, a 6-tuple, the integer 3.
const frameHead = "\x83h\x06a\x03"

// notForUs reports whether the receive rule skips frame: {3, :except, this node, ...} or
// {3, :only, another node, ...}. False means "decode it": a compressed frame, another shape, or one
// for this node. Frames it skips are not checked further (Phoenix does not deliver them either).
func (a *Adapter) notForUs(frame string) bool {
	if len(frame) < len(frameHead) || frame[:len(frameHead)] != frameHead {
		return false
	}
	mode, rest, ok := asciiAtom(frame[len(frameHead):])
	if !ok {
		return false
	}
	node, _, ok := asciiAtom(rest)
	if !ok {
		return false
	}
	switch mode {
	case "except":
		return node == a.cfg.NodeName
	case "only":
		return node != a.cfg.NodeName
	}
	return false
}

// asciiAtom reads an atom in any of its four encodings whose text is ASCII (a latin-1 or UTF-8 atom
// with other characters is left to the decoder), and returns its text and what follows.
func asciiAtom(b string) (string, string, bool) {
	if len(b) < 2 {
		return "", "", false
	}
	var n, off int
	switch b[0] {
	case 115, 119: // SMALL_ATOM_EXT, SMALL_ATOM_UTF8_EXT
		n, off = int(b[1]), 2
	case 100, 118: // ATOM_EXT, ATOM_UTF8_EXT
		if len(b) < 3 {
			return "", "", false
		}
		n, off = int(b[1])<<8|int(b[2]), 3
	default:
		return "", "", false
	}
	if n > 255 || len(b) < off+n {
		return "", "", false
	}
	s := b[off : off+n]
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return "", "", false
		}
	}
	return s, b[off+n:], true
}
