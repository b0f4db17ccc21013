package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestMACMatchesStdlib checks the pooled HMAC against a fresh crypto/hmac, key after key, so a pooled
// state made with one key is never used for another.
func TestMACMatchesStdlib(t *testing.T) {
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("a"), make([]byte, 64), make([]byte, 65), []byte("a")}
	for i, key := range keys {
		msg := fmt.Appendf(nil, "message %d", i)
		h := hmac.New(sha256.New, key)
		h.Write(msg)
		want := h.Sum(nil)
		if got := appendMAC(nil, msg, key); !hmac.Equal(got, want) {
			t.Errorf("key %q: appendMAC %x, want %x", key, got, want)
		}
		if !validMAC(string(msg), string(want), key) {
			t.Errorf("key %q: validMAC rejects the right MAC", key)
		}
		if validMAC(string(msg)+"x", string(want), key) {
			t.Errorf("key %q: validMAC accepts a MAC of another message", key)
		}
	}
}

// TestConcurrentSigning signs and verifies with several keys at once (run with -race).
func TestConcurrentSigning(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			key := fmt.Appendf(nil, "key-%d", g%3)
			other := fmt.Appendf(nil, "key-%d", (g+1)%3)
			e := sampleEnvelopes()["direct"]
			buf := make([]byte, 0, 256)
			for i := range 300 {
				e.Seq = uint64(i)
				frame, err := Append(buf[:0], &e, key)
				if err != nil {
					errs <- err
					return
				}
				if _, err := DecodeSigned(string(frame), Limits{}, key); err != nil {
					errs <- fmt.Errorf("goroutine %d, frame %d: %w", g, i, err)
					return
				}
				if _, err := DecodeSigned(string(frame), Limits{}, other); !errors.Is(err, ErrSignature) {
					errs <- fmt.Errorf("goroutine %d, frame %d, other key: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
