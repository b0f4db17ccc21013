package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
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
	n   [binary.MaxVarintLen64]byte // the scope's length, encoded
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

// macDomain opens the input of every MAC: it names the protocol and its version, so that a MAC made
// for anything else (another protocol using the same key, a future version) never verifies here.
const macDomain = "phxgo/pubsub wire v2\x00"

// writeScope writes the MAC's input before the frame: the domain and the length-prefixed scope.
func (m *macState) writeScope(scope string) {
	m.h.Write(stringBytes(macDomain))
	m.h.Write(binary.AppendUvarint(m.n[:0], uint64(len(scope))))
	m.h.Write(stringBytes(scope))
}

// appendMAC appends the MAC of msg for scope under key to dst.
func appendMAC(dst []byte, scope string, msg, key []byte) []byte {
	m := getMAC(key)
	m.writeScope(scope)
	m.h.Write(msg)
	dst = m.h.Sum(dst)
	putMAC(m)
	return dst
}

// validMAC reports, in constant time, whether mac is the MAC of msg for scope under key.
func validMAC(scope, msg, mac string, key []byte) bool {
	m := getMAC(key)
	m.writeScope(scope)
	m.h.Write(stringBytes(msg))
	ok := hmac.Equal(m.h.Sum(m.sum[:0]), stringBytes(mac))
	putMAC(m)
	return ok
}

// anyKey reports whether keys holds a key: nil entries do not count, so that DecodeSigned(…, nil)
// means "no key", as a nil key always has.
func anyKey(keys [][]byte) bool {
	for _, k := range keys {
		if k != nil {
			return true
		}
	}
	return false
}

// verify checks mac against every key in turn: nil when one matches. An empty (non-nil) key is an
// error, never a match.
func verify(scope, msg, mac string, keys [][]byte) error {
	for _, key := range keys {
		switch {
		case key == nil:
		case len(key) == 0:
			return fmt.Errorf("%w: empty key", ErrSignature)
		case validMAC(scope, msg, mac, key):
			return nil
		}
	}
	return fmt.Errorf("%w: MAC mismatch", ErrSignature)
}

// stringBytes returns the bytes of s without copying. The result must never be written to: it is
// only passed to hash functions and comparisons, which read.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
