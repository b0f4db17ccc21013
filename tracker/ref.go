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

// newRef returns a ref in Phoenix's format: 12 bytes (time in ns, a per-process salt, a counter) as 16
// characters of URL-safe base64 without padding. Clients treat it as opaque.
func newRef() string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint16(b[8:10], refSalt)
	binary.BigEndian.PutUint16(b[10:12], uint16(refCounter.Add(1)))
	return base64.RawURLEncoding.EncodeToString(b[:])
}
