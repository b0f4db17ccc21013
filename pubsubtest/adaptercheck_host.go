package pubsubtest

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/phxgo/pubsub"
)

// fakeHost is the pubsub.Host that RunAdapter starts one adapter with. It records what the adapter
// hands it (goroutine-safe) and returns nil: frames by stream and sequence number, and whatever it
// cannot take for one of the suite's frames as it was sent.
type fakeHost struct {
	c    *adapterCluster
	node int // the index of the adapter it serves
	inc  [16]byte
	log  *slog.Logger

	mu      sync.Mutex
	streams map[string][]int // stream key (see frameID) → sequence numbers, in the order received
	self    []frameID        // the node's own frames, handed back to it
	bad     []string         // frames that are not the suite's frames as sent, and why
	gaps    []error
	closed  bool     // the adapter's Close has returned
	late    []string // Host calls after Close returned
}

func newFakeHost(c *adapterCluster, node int) *fakeHost {
	h := &fakeHost{c: c, node: node, streams: map[string][]int{}, log: c.log}
	rand.Read(h.inc[:])
	return h
}

func (h *fakeHost) Name() string          { return h.c.name }
func (h *fakeHost) Incarnation() [16]byte { return h.inc }
func (h *fakeHost) Logger() *slog.Logger  { return h.log }
func (h *fakeHost) HandleGap(reason error) {
	h.record("HandleGap", func() { h.gaps = append(h.gaps, reason) })
}

func (h *fakeHost) HandleFrame(frame string) error {
	h.record("HandleFrame", func() { h.receive(frame, "") })
	return nil
}

// HandleRoutedFrame, HandleScopedGap and ForgetRoute make the host a pubsub.RoutedHost, for adapters
// that route by topic: the suite checks the frames, not their routes.
func (h *fakeHost) HandleRoutedFrame(_ int, frame string) error     { return h.HandleFrame(frame) }
func (h *fakeHost) HandleScopedGap(_ pubsub.GapScope, reason error) { h.HandleGap(reason) }
func (h *fakeHost) ForgetRoute(int)                                 {}

var _ pubsub.RoutedHost = (*fakeHost)(nil)

func (h *fakeHost) HandleMessage(m pubsub.RemoteMessage) error {
	h.record("HandleMessage", func() {
		var raw string
		switch p := m.Payload.(type) {
		case []byte:
			raw = string(p)
		case string:
			raw = p
		default:
			h.bad = append(h.bad, fmt.Sprintf("a message whose payload is a %T, not the []byte sent", m.Payload))
			return
		}
		h.receive(raw, h.checkMessage(raw, m))
	})
	return nil
}

// record runs f under the lock, unless the adapter's Close has returned: then it notes the call.
func (h *fakeHost) record(method string, f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		h.late = append(h.late, method)
		return
	}
	f()
}

// receive files one frame (or a carried message's payload). problem, if not empty, is what is wrong
// with the message beyond its payload.
func (h *fakeHost) receive(raw, problem string) {
	id, err := parseFrame(h.c.token, raw)
	switch {
	case err != nil:
		h.bad = append(h.bad, fmt.Sprintf("%.80q, %v", raw, err))
	case problem != "":
		h.bad = append(h.bad, fmt.Sprintf("frame %v as a message with %s", id, problem))
	case id.from == h.node:
		h.self = append(h.self, id)
	default:
		h.streams[id.stream()] = append(h.streams[id.stream()], id.seq)
	}
}

// checkMessage says what is wrong with a carried message, beyond its payload: its Origin, Target and
// Topic must be those of the frame it carries.
func (h *fakeHost) checkMessage(raw string, m pubsub.RemoteMessage) string {
	id, err := parseFrame(h.c.token, raw)
	if err != nil {
		return ""
	}
	if want := h.c.names[id.from]; m.Origin != want && (m.Origin != "" || id.to < 0 || !h.c.s.directWithoutOrigin) {
		return fmt.Sprintf("Origin %q, want %q", m.Origin, want)
	}
	want := ""
	if id.to >= 0 {
		want = h.c.names[id.to]
	}
	if m.Target != want {
		return fmt.Sprintf("Target %q, want %q", m.Target, want)
	}
	if m.Topic != id.topic() {
		return fmt.Sprintf("Topic %q, want %q", m.Topic, id.topic())
	}
	return ""
}

// markClosed notes that the adapter's Close has returned: from now on every Host call is a violation.
func (h *fakeHost) markClosed() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
}

// seqs returns the sequence numbers received on stream, in the order received.
func (h *fakeHost) seqs(stream string) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.streams[stream]...)
}

// snapshot returns copies of the host's records of things other than frames from other nodes.
func (h *fakeHost) snapshot() (self []frameID, bad []string, gaps []error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append(self, h.self...), append(bad, h.bad...), append(gaps, h.gaps...)
}

// takeLate returns the Host calls made after Close returned, and forgets them (so that each is reported
// once).
func (h *fakeHost) takeLate() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	late := h.late
	h.late = nil
	return late
}

// tlogWriter writes an adapter's log lines to the test's log while the test runs, and drops them
// after (an adapter that logs after Close must not panic the test binary).
type tlogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log("adapter log: " + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tlogWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
