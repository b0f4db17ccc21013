package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
	"unsafe"
)

// A keyed HMAC-SHA256 costs several allocations to set up, so set-up states are pooled and reused
// while the key stays the same; signing and verifying then allocate nothing.

type macState struct {
	key []byte // copy of the key h was made with
	h   hash.Hash
	sum [MACLen]byte
}

var macPool sync.Pool // of *macState

// getMAC returns a reset HMAC-SHA256 state for key. Return it with putMAC.
func getMAC(key []byte) *macState {
	if m, _ := macPool.Get().(*macState); m != nil && hmac.Equal(m.key, key) {
		m.h.Reset()
		return m
	}
	return &macState{key: append([]byte(nil), key...), h: hmac.New(sha256.New, key)}
}

func putMAC(m *macState) { macPool.Put(m) }

// appendMAC appends HMAC-SHA256(key, msg) to dst.
func appendMAC(dst, msg, key []byte) []byte {
	m := getMAC(key)
	m.h.Write(msg)
	dst = m.h.Sum(dst)
	putMAC(m)
	return dst
}

// validMAC reports, in constant time, whether mac is HMAC-SHA256(key, msg).
func validMAC(msg, mac string, key []byte) bool {
	m := getMAC(key)
	m.h.Write(stringBytes(msg))
	ok := hmac.Equal(m.h.Sum(m.sum[:0]), stringBytes(mac))
	putMAC(m)
	return ok
}

// stringBytes returns the bytes of s without copying. The result must never be written to: it is
// only passed to hash functions and comparisons, which read.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
