package wire

import "fmt"

// CheckMsgpack's errors are static, so that rejecting hostile input allocates nothing.
var (
	errMsgpackEmpty     = fmt.Errorf("%w: msgpack: empty value", ErrMalformed)
	errMsgpackTruncated = fmt.Errorf("%w: msgpack: truncated value", ErrMalformed)
	errMsgpackLength    = fmt.Errorf("%w: msgpack: str, bin or ext length exceeds the remaining bytes", ErrMalformed)
	errMsgpackCount     = fmt.Errorf("%w: msgpack: array or map count exceeds the remaining bytes", ErrMalformed)
	errMsgpackDepth     = fmt.Errorf("%w: msgpack: nesting deeper than maxDepth", ErrMalformed)
	errMsgpackReserved  = fmt.Errorf("%w: msgpack: reserved type byte 0xc1", ErrMalformed)
	errMsgpackTrailing  = fmt.Errorf("%w: msgpack: trailing bytes after the value", ErrMalformed)
)

// Depths for CheckMsgpack.
const (
	// DefaultMaxDepth is the nesting depth receivers should allow in msgpack payloads.
	DefaultMaxDepth = 32
	// MaxCheckDepth caps maxDepth: larger values act as MaxCheckDepth.
	MaxCheckDepth = 10000
)

// CheckMsgpack verifies that b is exactly one well-formed msgpack value, so that msgpack's decoder can
// be run on it safely. It walks b once, without allocating and with a small bounded stack, and
// verifies that:
//
//   - every declared length (str, bin, ext: fix, 8, 16 and 32-bit forms) fits in the bytes that remain;
//   - every array's element count, and twice every map's pair count, is at most the number of bytes
//     that remain (each element takes at least one byte), so a decoder sizing a slice or map by the
//     declared count allocates at most in proportion to len(b);
//   - containers nest at most maxDepth deep (a top-level scalar has depth 0, [1] depth 1, [[1]] depth
//     2; maxDepth ≤ 0 allows scalars only; values above MaxCheckDepth act as MaxCheckDepth);
//   - the reserved byte 0xc1 does not occur as a type byte;
//   - the value consumes all of b.
//
// It does not judge content: ext type ids, timestamps and map key types are left to the decoder, which
// may still return an error (never crash or exhaust memory) on a value that passed. The error wraps
// ErrMalformed and says what is wrong (not where: rejecting allocates nothing).
func CheckMsgpack(b []byte, maxDepth int) error { return checkMsgpack(b, maxDepth) }

// CheckMsgpackString is CheckMsgpack on a string, without converting it.
func CheckMsgpackString(s string, maxDepth int) error { return checkMsgpack(s, maxDepth) }

func checkMsgpack[T string | []byte](b T, maxDepth int) error {
	maxDepth = min(max(maxDepth, 0), MaxCheckDepth)
	if len(b) == 0 {
		return errMsgpackEmpty
	}
	end, err := checkValue(b, 0, 0, maxDepth)
	if err != nil {
		return err
	}
	if end != len(b) {
		return errMsgpackTrailing
	}
	return nil
}

// stackChunk is how many open containers one checkValue call tracks; deeper values are handed to a
// nested call, so recursion is at most MaxCheckDepth/stackChunk+1 calls deep.
const stackChunk = 32

// checkValue checks the one value that starts at b[pos:], enclosed by depth containers, and returns the
// position after it.
func checkValue[T string | []byte](b T, pos, depth, maxDepth int) (int, error) {
	var stack [stackChunk]uint64 // values still expected by each open container, innermost last
	open := 0
	for {
		start := pos
		if pos >= len(b) {
			return 0, errMsgpackTruncated
		}
		c := b[pos]
		pos++

		var (
			container bool   // c opens an array or a map
			pairs     bool   // c opens a map: its count is of key-value pairs
			count     uint64 // values in the container (2 per map pair)
			size      uint64 // bytes of data after the header (str, bin, ext, numbers)
			lenBytes  int    // bytes of the big-endian length or count after c
		)
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixint, nil, bool
		case c <= 0x8f: // fixmap
			container, count = true, 2*uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			container, count = true, uint64(c&0x0f)
		case c <= 0xbf: // fixstr
			size = uint64(c & 0x1f)
		default:
			switch c {
			case 0xc1:
				return 0, errMsgpackReserved
			case 0xc4, 0xd9: // bin8, str8
				lenBytes = 1
			case 0xc5, 0xda: // bin16, str16
				lenBytes = 2
			case 0xc6, 0xdb: // bin32, str32
				lenBytes = 4
			case 0xc7: // ext8: length, type, data
				lenBytes, size = 1, 1
			case 0xc8: // ext16
				lenBytes, size = 2, 1
			case 0xc9: // ext32
				lenBytes, size = 4, 1
			case 0xcc, 0xd0: // uint8, int8
				size = 1
			case 0xcd, 0xd1: // uint16, int16
				size = 2
			case 0xca, 0xce, 0xd2: // float32, uint32, int32
				size = 4
			case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
				size = 8
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type, data
				size = 1 + 1<<(c-0xd4)
			case 0xdc: // array16
				container, lenBytes = true, 2
			case 0xdd: // array32
				container, lenBytes = true, 4
			case 0xde: // map16
				container, pairs, lenBytes = true, true, 2
			case 0xdf: // map32
				container, pairs, lenBytes = true, true, 4
			}
		}
		if lenBytes > 0 {
			if len(b)-pos < lenBytes {
				return 0, errMsgpackTruncated
			}
			var v uint64
			for i := range lenBytes {
				v = v<<8 | uint64(b[pos+i])
			}
			pos += lenBytes
			switch {
			case pairs:
				count = 2 * v
			case container:
				count = v
			default:
				size += v
			}
		}
		rem := uint64(len(b) - pos)

		if !container {
			if size > rem {
				return 0, errMsgpackLength
			}
			pos += int(size)
		} else {
			if depth+open+1 > maxDepth {
				return 0, errMsgpackDepth
			}
			if count > rem {
				return 0, errMsgpackCount
			}
			if count > 0 {
				if open < stackChunk {
					stack[open] = count
					open++
					continue
				}
				// This frame's stack is full: check the container in a nested call.
				end, err := checkValue(b, start, depth+open, maxDepth)
				if err != nil {
					return 0, err
				}
				pos = end
			}
		}

		// A value is complete: count it against its container, closing every container it completes.
		for open > 0 {
			stack[open-1]--
			if stack[open-1] > 0 {
				break
			}
			open--
		}
		if open == 0 {
			return pos, nil
		}
	}
}
