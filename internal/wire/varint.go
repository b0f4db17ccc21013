package wire

// Field lengths are unsigned varints: LEB128, as encoding/binary writes them (7 bits per byte, least
// significant group first, high bit set on every byte but the last). On the wire they must be minimal
// (no trailing 0x00 group) and fit in 64 bits (at most 10 bytes, the 10th at most 0x01), so each value
// has exactly one encoding and re-encoding a decoded frame gives the same bytes.

// maxVarintLen is the longest encoding of a uint64.
const maxVarintLen = 10

// varint reasons, static so that decoding allocates nothing until it fails.
const (
	varintTruncated = "truncated"
	varintOverlong  = "not minimally encoded"
	varintOverflow  = "overflows 64 bits"
)

// uvarint reads the varint at s[pos:]. It returns the value and its length, or a reason it is invalid.
func uvarint(s string, pos int) (v uint64, n int, bad string) {
	for i := 0; i < maxVarintLen; i++ {
		if pos+i >= len(s) {
			return 0, 0, varintTruncated
		}
		c := s[pos+i]
		if i == maxVarintLen-1 && c > 1 {
			return 0, 0, varintOverflow
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, 0, varintOverlong
			}
			return v, i + 1, ""
		}
	}
	return 0, 0, varintOverflow
}

// uvarintLen returns the length of the minimal encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
