package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestMACMatchesStdlib checks the pooled HMAC against a fresh crypto/hmac, key after key, so a pooled
// state made with one key is never used for another.
func TestMACMatchesStdlib(t *testing.T) {
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("a"), make([]byte, 64), make([]byte, 65), []byte("a")}
	scopes := []string{"", "ps", "my_pubsub", "", strings.Repeat("s", 200), "ps"}
	for i, key := range keys {
		msg := fmt.Appendf(nil, "message %d", i)
		scope := scopes[i]
		h := hmac.New(sha256.New, key)
		h.Write([]byte("phxgo/pubsub wire v2\x00"))
		h.Write(binary.AppendUvarint(nil, uint64(len(scope))))
		h.Write([]byte(scope))
		h.Write(msg)
		want := h.Sum(nil)
		if got := appendMAC(nil, scope, msg, key); !hmac.Equal(got, want) {
			t.Errorf("key %q: appendMAC %x, want %x", key, got, want)
		}
		if !validMAC(scope, string(msg), string(want), key) {
			t.Errorf("key %q: validMAC rejects the right MAC", key)
		}
		if validMAC(scope, string(msg)+"x", string(want), key) {
			t.Errorf("key %q: validMAC accepts a MAC of another message", key)
		}
		if validMAC(scope+"x", string(msg), string(want), key) {
			t.Errorf("key %q: validMAC accepts the MAC of another scope", key)
		}
	}
}

// A frame signed for one PubSub (scope) never verifies for another that shares the key, and the
// length prefix keeps scope and frame apart ("ab"+"c…" is not "a"+"bc…").
func TestScopeIsBound(t *testing.T) {
	e := sampleEnvelopes()["broadcast"]
	e.Scope = "chat"
	frame := string(mustAppend(t, e, testKey))
	if _, err := DecodeSigned(frame, Limits{}, "chat", testKey); err != nil {
		t.Fatalf("same scope: %v", err)
	}
	for _, other := range []string{"", "cha", "chat2", "Chat"} {
		if _, err := DecodeSigned(frame, Limits{}, other, testKey); !errors.Is(err, ErrSignature) {
			t.Errorf("scope %q: %v, want ErrSignature", other, err)
		}
	}
}

// Key rotation: a receiver accepts a frame signed with any of its keys, and only those.
func TestSeveralKeys(t *testing.T) {
	old, cur, other := []byte("old-key-0123456789"), []byte("new-key-0123456789"), []byte("foreign-0123456789")
	e := sampleEnvelopes()["broadcast"]
	for _, signer := range [][]byte{old, cur} {
		frame := string(mustAppend(t, e, signer))
		if _, err := DecodeSigned(frame, Limits{}, "", cur, old); err != nil {
			t.Errorf("signed with %q: %v", signer, err)
		}
	}
	if _, err := DecodeSigned(string(mustAppend(t, e, other)), Limits{}, "", cur, old); !errors.Is(err, ErrSignature) {
		t.Errorf("foreign key: %v, want ErrSignature", err)
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
				if _, err := DecodeSigned(string(frame), Limits{}, "", key); err != nil {
					errs <- fmt.Errorf("goroutine %d, frame %d: %w", g, i, err)
					return
				}
				if _, err := DecodeSigned(string(frame), Limits{}, "", other); !errors.Is(err, ErrSignature) {
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
