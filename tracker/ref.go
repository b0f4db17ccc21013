package tracker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"sync/atomic"
	"time"
)

// Meta keys the tracker sets, as Phoenix does.
const (
	MetaRef     = "phx_ref"      // the presence's ref, new at every track and update
	MetaRefPrev = "phx_ref_prev" // after an update, the ref it replaced
)

var refSalt = func() uint16 {
	var b [2]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint16(b[:])
}()

var refCounter atomic.Uint32

// refID is a ref held compactly: its 12 bytes (time in ns, a per-process salt, a counter), rendered as
// Phoenix's format, 16 characters of URL-safe base64 without padding, only when read. ok is false for no
// ref.
type refID struct {
	b  [12]byte
	ok bool
}

// newRef returns a new ref. Clients treat its rendering as opaque.
func newRef() refID {
	r := refID{ok: true}
	binary.BigEndian.PutUint64(r.b[:8], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint16(r.b[8:10], refSalt)
	binary.BigEndian.PutUint16(r.b[10:12], uint16(refCounter.Add(1)))
	return r
}

// String renders the ref in Phoenix's format ("" for no ref).
func (r refID) String() string {
	if !r.ok {
		return ""
	}
	var s [16]byte
	base64.RawURLEncoding.Encode(s[:], r.b[:])
	return string(s[:])
}

// refLen is the length of a ref's rendering.
const refLen = 16

// encodeTo renders the ref into b (refLen bytes).
func (r refID) encodeTo(b []byte) { base64.RawURLEncoding.Encode(b[:refLen], r.b[:]) }

// parseRef returns the ref s renders, if s is one in the canonical format.
func parseRef(s string) (refID, bool) {
	if len(s) != 16 {
		return refID{}, false
	}
	return parseRefBytes([]byte(s))
}

// parseRefBytes is parseRef of the bytes of a string.
func parseRefBytes(b []byte) (refID, bool) {
	if len(b) != 16 {
		return refID{}, false
	}
	r := refID{ok: true}
	if n, err := base64.RawURLEncoding.Strict().Decode(r.b[:], b); err != nil || n != 12 {
		return refID{}, false
	}
	return r, true
}
