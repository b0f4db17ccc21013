package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/phxgo/pubsub/presence"
)

// webDemoRun is a "pubsub demo --web" running in the test's process.
type webDemoRun struct {
	urls   map[string]string // node name → page URL
	names  []string          // node names, in order
	stdout *syncBuffer
	stderr *syncBuffer
	stop   func() // interrupts the demo and checks it ended cleanly; idempotent
}

var webURLLine = regexp.MustCompile(`(?m)^  (node-[a-z])  (http://\S+)$`)

// startWebDemo runs "pubsub demo --web --listen 127.0.0.1:0" plus args until the test ends (or stop),
// and waits for it to print its URLs.
func startWebDemo(t *testing.T, args ...string) *webDemoRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &webDemoRun{urls: map[string]string{}, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"demo", "--web", "--listen", "127.0.0.1:0"}, args...), r.stdout, r.stderr)
	}()
	stopped := false
	r.stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case c := <-code:
			if c != exitOK {
				t.Errorf("pubsub demo --web: exit status %d\nstdout:\n%s\nstderr:\n%s", c, r.stdout, r.stderr)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("pubsub demo --web did not stop within 30s of the interrupt\nstdout:\n%s", r.stdout)
		}
		assertLines(t, r.stdout.String(), "Done.")
	}
	t.Cleanup(r.stop)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(r.stdout.String(), "Press Ctrl-C to stop.") {
		select {
		case c := <-code:
			stopped = true
			t.Fatalf("pubsub demo --web ended with status %d before serving\nstdout:\n%s\nstderr:\n%s", c, r.stdout, r.stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("pubsub demo --web printed no URLs within 20s\nstdout:\n%s", r.stdout)
		}
	}
	for _, m := range webURLLine.FindAllStringSubmatch(r.stdout.String(), -1) {
		r.urls[m[1]] = m[2]
		r.names = append(r.names, m[1])
	}
	return r
}

// wsClient is a browser's connection, made by the test.
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan webTestFrame // closed when the connection ends
	err    error             // why it ended, once frames is closed

	// The presence list, as the page keeps it (awaitPresent).
	state    map[string][]map[string]any
	hasState bool
	pending  []json.RawMessage
}

type webTestFrame struct {
	Topic   string          `json:"topic"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

func dialWeb(t *testing.T, pageURL, user string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := strings.Replace(pageURL, "http://", "ws://", 1) + "ws?user=" + user
	conn, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	c := &wsClient{t: t, conn: conn, frames: make(chan webTestFrame, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.frames)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			var f webTestFrame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Errorf("%s received a frame that is not JSON: %q", user, b)
				return
			}
			c.frames <- f
		}
	}()
	t.Cleanup(func() { conn.CloseNow(); <-done })
	return c
}

// next returns the next frame of event, or fails the test after 10s. Presence frames read meanwhile
// update the client's presence list, as on the page; other frames are skipped.
func (c *wsClient) next(event string) webTestFrame {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("the connection closed while waiting for %s", event)
			}
			c.handle(f)
			if f.Event == event {
				return f
			}
		case <-timeout:
			c.t.Fatalf("no %s frame within 10s", event)
		}
	}
}

// handle keeps the presence list as the page does: presence_state, then each presence_diff's joins and
// leaves matched by phx_ref; diffs before the state wait for it.
func (c *wsClient) handle(f webTestFrame) {
	switch f.Event {
	case eventPresenceState:
		c.state, c.hasState = decodePresences(c.t, f.Payload), true
		for _, d := range c.pending {
			c.apply(d)
		}
		c.pending = nil
	case presence.Event:
		if !c.hasState {
			c.pending = append(c.pending, f.Payload)
		} else {
			c.apply(f.Payload)
		}
	}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

// presenceSummary lists presences (a presence_state, or a diff's joins or leaves) as "key@node", sorted.
func presenceSummary(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var out []string
	for k, metas := range decodePresences(t, raw) {
		for _, m := range metas {
			out = append(out, fmt.Sprintf("%s@%v", k, m["node"]))
		}
	}
	slices.Sort(out)
	return out
}

func decodePresences(t *testing.T, raw json.RawMessage) map[string][]map[string]any {
	t.Helper()
	var ps map[string]struct {
		Metas []map[string]any `json:"metas"`
	}
	if err := json.Unmarshal(raw, &ps); err != nil {
		t.Fatalf("presences %s: %v", raw, err)
	}
	out := map[string][]map[string]any{}
	for k, e := range ps {
		for _, m := range e.Metas {
			if ref, _ := m["phx_ref"].(string); ref == "" {
				t.Errorf("a meta of %s has no phx_ref: %v", k, m)
			}
		}
		out[k] = e.Metas
	}
	return out
}

// awaitPresent reads frames, keeping the presence list (handle), until the list is want ("key@node",
// sorted), or fails the test after 10s.
func (c *wsClient) awaitPresent(want ...string) {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for !c.hasState || !slices.Equal(c.present(), want) {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("the connection closed while waiting for presences %v", want)
			}
			c.handle(f)
		case <-timeout:
			c.t.Fatalf("presences %v, want %v, after 10s", c.present(), want)
		}
	}
}

func (c *wsClient) apply(raw json.RawMessage) {
	var d struct{ Joins, Leaves json.RawMessage }
	if err := json.Unmarshal(raw, &d); err != nil {
		c.t.Fatalf("presence_diff %s: %v", raw, err)
	}
	ref := func(m map[string]any) any { return m["phx_ref"] }
	for k, joined := range decodePresences(c.t, d.Joins) {
		metas := slices.Clone(joined)
		for _, cur := range c.state[k] {
			if !slices.ContainsFunc(joined, func(m map[string]any) bool { return ref(m) == ref(cur) }) {
				metas = append(metas, cur)
			}
		}
		c.state[k] = metas
	}
	for k, left := range decodePresences(c.t, d.Leaves) {
		c.state[k] = slices.DeleteFunc(c.state[k], func(m map[string]any) bool {
			return slices.ContainsFunc(left, func(l map[string]any) bool { return ref(l) == ref(m) })
		})
		if len(c.state[k]) == 0 {
			delete(c.state, k)
		}
	}
}

func (c *wsClient) present() []string {
	var out []string
	for k, metas := range c.state {
		for _, m := range metas {
			out = append(out, fmt.Sprintf("%s@%v", k, m["node"]))
		}
	}
	slices.Sort(out)
	return out
}

// The web demo without a browser: two WebSocket clients on two nodes see each other join, exchange a
// message through the fastlane, and see each other leave; bad input is answered, counted, and harmless.
func TestWebDemoOverWebSocket(t *testing.T) {
	demo := startWebDemo(t, "--nodes", "2")
	if !slices.Equal(demo.names, []string{"node-a", "node-b"}) {
		t.Fatalf("nodes %v\n%s", demo.names, demo.stdout)
	}
	a, b := demo.urls["node-a"], demo.urls["node-b"]

	resp, err := http.Get(a)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<script src="app.js">`) {
		t.Fatalf("GET %s: %d\n%s", a, resp.StatusCode, page)
	}
	var info webInfo
	getJSON(t, b+"info", &info)
	if info.Node != "node-b" || info.Room != webRoom || len(info.Nodes) != 2 || info.Nodes[0].URL != a {
		t.Fatalf("GET /info: %+v", info)
	}
	resp, err = http.Get(a + "ws?user=%20")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an empty user name: status %d, want 400", resp.StatusCode)
	}

	alice := dialWeb(t, a, "alice")
	alice.awaitPresent("alice@node-a")
	bob := dialWeb(t, b, "bob")
	bob.awaitPresent("alice@node-a", "bob@node-b")
	alice.awaitPresent("alice@node-a", "bob@node-b")

	bob.send(map[string]string{"event": "new_msg", "body": "  hello from b  "})
	for _, c := range []*wsClient{alice, bob} {
		f := c.next(eventNewMsg)
		var m chatMessage
		if err := json.Unmarshal(f.Payload, &m); err != nil || m.User != "bob" || m.Body != "hello from b" || m.Node != "node-b" || f.Topic != webRoom {
			t.Fatalf("new_msg %s: %+v, %v", f.Payload, m, err)
		}
	}

	bob.send(map[string]string{"event": "shout", "body": "x"})
	if f := bob.next(eventError); !strings.Contains(string(f.Payload), `unknown event \"shout\"`) {
		t.Fatalf("phx_error: %s", f.Payload)
	}
	if err := bob.conn.Write(context.Background(), websocket.MessageBinary, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	bob.next(eventError)
	if !strings.Contains(demo.stderr.String(), "web demo: a browser sent a bad message") {
		t.Errorf("bad input was not logged:\n%s", demo.stderr)
	}
	bob.send(map[string]string{"event": "new_msg", "body": "still here"})
	if f := alice.next(eventNewMsg); !strings.Contains(string(f.Payload), "still here") {
		t.Fatalf("after bad input: %s", f.Payload)
	}

	var bInfo webInfo
	getJSON(t, b+"info", &bInfo)
	if st := bInfo.Stats; st.BadMessages != 2 || st.Fastlane.Encodes == 0 || st.Fastlane.Writes < st.Fastlane.Encodes || st.Presence.Delivered == 0 {
		t.Errorf("node-b's counters: %+v; want 2 bad messages, and encodes, writes and diffs", st)
	}

	bob2 := dialWeb(t, a, "bob") // bob opens a second tab, on the other node: one key, two metas
	alice.awaitPresent("alice@node-a", "bob@node-a", "bob@node-b")
	bob2.awaitPresent("alice@node-a", "bob@node-a", "bob@node-b")
	bob.conn.Close(websocket.StatusNormalClosure, "bye")
	alice.awaitPresent("alice@node-a", "bob@node-a")
	bob2.conn.Close(websocket.StatusNormalClosure, "bye")
	alice.awaitPresent("alice@node-a")

	demo.stop() // closes alice's connection: the node is going away
	for range alice.frames {
	}
	if st := websocket.CloseStatus(alice.err); st != websocket.StatusGoingAway {
		t.Fatalf("alice's connection ended with %v (status %v), want %v", alice.err, st, websocket.StatusGoingAway)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d, %v", url, resp.StatusCode, err)
	}
}

// A connection's queue never blocks: a frame that does not fit is dropped, and the first drop signals
// the connection to close.
func TestWebConnWriterOverflow(t *testing.T) {
	w := newWebConnWriter()
	for i := range webQueueFrames {
		if !w.WriteFrame([]byte{byte(i)}) {
			t.Fatalf("frame %d refused with room left", i)
		}
	}
	select {
	case <-w.overflow:
		t.Fatal("overflow before a drop")
	default:
	}
	if w.WriteFrame([]byte("x")) || w.WriteFrame([]byte("y")) {
		t.Fatal("a full queue took a frame")
	}
	select {
	case <-w.overflow:
	default:
		t.Fatal("no overflow after a drop")
	}
	if f := <-w.frames; len(f) != 1 || f[0] != 0 {
		t.Fatalf("first frame %v", f)
	}
}

func TestWebDemoFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"demo", "--web", "--sockets", "3"}, "--sockets and --mailbox do not apply to --web"},
		{[]string{"demo", "--listen", "127.0.0.1:0"}, "--listen and --nodes apply only to --web"},
		{[]string{"demo", "--web", "--nodes", "4"}, "--nodes 4 is outside 2..3"},
		{[]string{"demo", "--web", "--listen", "nowhere"}, `--listen "nowhere"`},
		{[]string{"demo", "--web", "--listen", "127.0.0.1:65535"}, `bad port "65535"`},
	} {
		var stdout, stderr syncBuffer
		if code := run(t.Context(), tc.args, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), tc.err) {
			t.Errorf("%q: status %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), exitUsage, tc.err)
		}
	}
}

// A browser preconnects sockets it may never send a request on; http.Server.Shutdown counts them as
// active for their first 5 s. Stopping the demo with one open must neither fail nor wait for them.
func TestWebDemoStopsWithAPreconnectedSocket(t *testing.T) {
	r := startWebDemo(t, "--nodes", "2")
	u, err := url.Parse(r.urls[r.names[0]])
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(50 * time.Millisecond) // the server has accepted it
	start := time.Now()
	r.stop()
	if took := time.Since(start); took > webShutdownWait+3*time.Second {
		t.Errorf("the demo took %v to stop with a preconnected socket open", took)
	}
}
