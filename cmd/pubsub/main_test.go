package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// demoLines are narration lines every demo run must print (with the default flags). They leave out
// the step numbers, so that inserting a step (the tracker's) does not break them.
var demoLines = []string{
	`PubSub "demo": node-a, node-b and node-c joined, each with its own Redis adapter`,
	`   alice joined "room:lobby" on node-a`,
	`   carol joined "room:lobby" on node-c`,
	// a broadcast crossing nodes
	`   node-a broadcast to "room:lobby": "hello, everyone"`,
	`   bob on node-b received "hello, everyone"`,
	`   carol on node-c received "hello, everyone"`,
	// broadcast_from
	`   alice on node-a received "hi, it's bob"`,
	`   bob received nothing (he sent it)`,
	// the direct broadcast
	`   node-a direct_broadcast to node-c on "room:lobby": "psst, node-c"`,
	`   carol on node-c received "psst, node-c"`,
	`   alice and bob received nothing (their nodes were not addressed)`,
	// the fastlane
	`   2 sockets on node-b and 2 on node-c joined "room:game" with fastlane metadata`,
	`   node-b socket 1 wrote {"topic":"room:game","payload":{"player":"alice","points":10}}`,
	`   node-c socket 2 wrote {"topic":"room:game","payload":{"player":"alice","points":10}}`,
	`   dave on node-c received {Player:alice Points:10} in his mailbox, as a main.score`,
	`   node-b encoded once, written to 2 sockets; node-c encoded once, written to 2 sockets`,
	// the slow consumer
	`   erin's mailbox holds 2; 3 dropped`,
	`   node-b reported a slow consumer: subscriber `,
	`   erin caught up and received tick 5; still 3 dropped, reported once`,
	// presences joining, listed on every node
	`   node-a tracks alice in "room:lobby" with {"status":"online"}, owned by alice's subscriber`,
	`   node-c tracks carol in "room:lobby" with {"status":"online"}, owned by carol's subscriber`,
	`   node-a lists alice (on node-a), bob (on node-b) and carol (on node-c); its handler saw the three join`,
	`   node-b lists alice (on node-a), bob (on node-b) and carol (on node-c); its handler saw the three join`,
	`   node-c lists alice (on node-a), bob (on node-b) and carol (on node-c); its handler saw the three join`,
	// an update
	`   node-a lists carol with {"status":"away"}, phx_ref_prev = her first phx_ref; its handler saw carol leave (online) and join (away)`,
	`   node-b lists carol with {"status":"away"}, phx_ref_prev = her first phx_ref; its handler saw carol leave (online) and join (away)`,
	// a node crashing: its presences leave after the down period
	`   node-c crashed (tracker and PubSub closed, no GracefulPermdown): carol's mailbox is closed and node-c unsubscribed from Redis`,
	`   200 ms later, node-a and node-b still list carol: a crash announces nothing`,
	`   after the down period (400ms of silence from node-c), node-a and node-b list only alice (on node-a) and bob (on node-b); their handlers saw carol leave`,
	`   live nodes on Redis, as 'pubsub nodes' finds them: node-a and node-b`,
	`   bob on node-b received "still here?"`,
	`   node-a direct_broadcast to node-c: no error, and no one receives it (as in Phoenix)`,
	// a node leaving gracefully: its presences leave at once
	`   node-b's tracker announced its leave (GracefulPermdown), then node-b closed: bob's mailbox is closed`,
	`   node-a lists only alice (on node-a) at once, with no down period to wait for; its handler saw bob leave`,
	`   live nodes on Redis: node-a`,
	`   alice on node-a received "just us?"`,
	"node-a closed: every subscriber closed, every goroutine stopped.",
	"Done.",
}

func assertLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, line := range want {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q; got:\n%s", line, out)
		}
	}
}

// miniRedis starts a miniredis for one test and returns it with its URL.
func miniRedis(t *testing.T) (*miniredis.Miniredis, string) {
	t.Helper()
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, "redis://" + m.Addr() + "/0"
}

// startNode starts a PubSub node on url, closed at cleanup.
func startNode(t *testing.T, url, name, node string) *pubsub.PubSub {
	t.Helper()
	a, err := redisadapter.New(redisadapter.Config{URL: url, NodeName: node, ProbeInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps
}

// eventually polls cond until it holds, or fails the test after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// numSub returns how many connections subscribe to channel.
func numSub(m *miniredis.Miniredis, channel string) int {
	return m.PubSubNumSub(channel)[channel]
}

// TestRun runs the program in-process, so that goleak sees whatever it leaves behind.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     []string
		quietOut   bool // nothing on stdout
		quietError bool // nothing on stderr
	}{
		{name: "demo", args: []string{"demo"}, code: exitOK, stdout: append([]string{"Redis: embedded (miniredis, in this process)", "Embedded Redis stopped. Done."}, demoLines...), quietError: true},
		{name: "demo flags", args: []string{"demo", "-sockets", "1", "-mailbox=1", "--name", "other"}, code: exitOK,
			stdout: []string{`PubSub "other"`, "   1 socket on node-b and 1 on node-c joined", "node-c encoded once, written to 1 socket\n", "erin's mailbox holds 1; 3 dropped"}, quietError: true},
		{name: "help", args: []string{"--help"}, code: exitOK, stdout: []string{"Usage:\n  pubsub <command> [flags]", "  demo ", "  tail ", "  publish ", "  nodes ", "  presence ", "  bench ", "Exit status"}, quietError: true},
		{name: "-h", args: []string{"-h"}, code: exitOK, stdout: []string{"Commands:"}, quietError: true},
		{name: "help command", args: []string{"help"}, code: exitOK, stdout: []string{"Commands:"}, quietError: true},
		{name: "demo help", args: []string{"demo", "--help"}, code: exitOK, stdout: []string{"pubsub demo [flags]", "-redis URL", "-sockets count", "-mailbox size"}, quietError: true},
		{name: "help demo", args: []string{"help", "demo"}, code: exitOK, stdout: []string{"pubsub demo [flags]"}, quietError: true},
		{name: "tail help", args: []string{"tail", "-h"}, code: exitOK, stdout: []string{"pubsub tail --redis URL --name NAME [flags] TOPIC...", "-json", "-bytes encoding"}, quietError: true},
		{name: "publish help", args: []string{"help", "publish"}, code: exitOK, stdout: []string{"pubsub publish --redis URL --name NAME [flags] TOPIC [PAYLOAD]", "-node name", "-v\t"}, quietError: true},
		{name: "nodes help", args: []string{"nodes", "--help"}, code: exitOK, stdout: []string{"pubsub nodes --redis URL --name NAME", "-wait long", "no probe heard"}, quietError: true},
		{name: "presence help", args: []string{"presence", "--help"}, code: exitOK, stdout: []string{"pubsub presence --redis URL --name NAME --tracker TRACKER [flags] TOPIC", "-tracker name", "-pool-size count", "-period period", "-wait long", "GracefulPermdown"}, quietError: true},
		{name: "bench help", args: []string{"bench", "--help"}, code: exitOK, stdout: []string{"pubsub bench [flags]", "-duration long", "-broadcasters count"}, quietError: true},
		{name: "no command", args: nil, code: exitUsage, stderr: []string{"Commands:"}, quietOut: true},
		{name: "unknown command", args: []string{"frob"}, code: exitUsage, stderr: []string{`pubsub: unknown command "frob"`, "Run 'pubsub --help'"}, quietOut: true},
		{name: "unknown flag", args: []string{"--frob"}, code: exitUsage, stderr: []string{"pubsub: flag provided but not defined: -frob"}, quietOut: true},
		{name: "demo unknown flag", args: []string{"demo", "-nope"}, code: exitUsage, stderr: []string{"pubsub demo: flag provided but not defined: -nope", "Run 'pubsub demo --help'"}, quietOut: true},
		{name: "demo bad value", args: []string{"demo", "-sockets", "many"}, code: exitUsage, stderr: []string{`invalid value "many" for flag -sockets`}, quietOut: true},
		{name: "demo out of range", args: []string{"demo", "-mailbox", "0"}, code: exitUsage, stderr: []string{"pubsub demo: -mailbox 0 is outside 1..100"}, quietOut: true},
		{name: "demo extra argument", args: []string{"demo", "now"}, code: exitUsage, stderr: []string{`pubsub demo: unexpected argument "now"`}, quietOut: true},
		{name: "demo bad URL", args: []string{"demo", "--redis", "http://localhost"}, code: exitUsage, stderr: []string{`pubsub demo: invalid --redis URL "http://localhost": redis: invalid URL scheme: http`}, quietOut: true},
		{name: "demo unreachable", args: []string{"demo", "--redis", "redis://127.0.0.1:1"}, code: exitUsage, stderr: []string{"pubsub demo: cannot connect to Redis at 127.0.0.1:1: "}, quietOut: true},
		{name: "help unknown", args: []string{"help", "frob"}, code: exitUsage, stderr: []string{`pubsub help: unknown command "frob"`}, quietOut: true},
		{name: "tail no redis", args: []string{"tail", "--name", "x", "t"}, code: exitUsage, stderr: []string{"pubsub tail: --redis URL is required"}, quietOut: true},
		{name: "tail no name", args: []string{"tail", "--redis", "redis://localhost", "t"}, code: exitUsage, stderr: []string{"pubsub tail: --name is required"}, quietOut: true},
		{name: "tail no topic", args: []string{"tail", "--redis", "redis://localhost", "--name", "x"}, code: exitUsage, stderr: []string{"pubsub tail: missing TOPIC"}, quietOut: true},
		{name: "tail bad bytes", args: []string{"tail", "--redis", "redis://localhost", "--name", "x", "t", "--bytes", "b32"}, code: exitUsage, stderr: []string{`pubsub tail: -bytes "b32": want base64 or hex`}, quietOut: true},
		{name: "tail password redacted", args: []string{"tail", "--redis", "redis://u:hunter2@local host", "--name", "x", "t"}, code: exitUsage, stderr: []string{`invalid --redis URL "redis://…@local host"`}, quietOut: true},
		{name: "tail unset secret", args: []string{"tail", "--redis", "redis://localhost", "--name", "x", "--secret-env", "PHXGO_TEST_NO_SUCH_VAR", "t"}, code: exitUsage, stderr: []string{"environment variable PHXGO_TEST_NO_SUCH_VAR is not set"}, quietOut: true},
		{name: "tail unreachable", args: []string{"tail", "--redis", "redis://127.0.0.1:1", "--name", "x", "t"}, code: exitUsage, stderr: []string{"pubsub tail: cannot connect to Redis at 127.0.0.1:1: "}, quietOut: true},
		{name: "publish no topic", args: []string{"publish", "--redis", "redis://localhost", "--name", "x"}, code: exitUsage, stderr: []string{"pubsub publish: missing TOPIC"}, quietOut: true},
		{name: "publish too many", args: []string{"publish", "--redis", "redis://localhost", "--name", "x", "t", "a", "b"}, code: exitUsage, stderr: []string{"pubsub publish: too many arguments"}, quietOut: true},
		{name: "publish unreachable", args: []string{"publish", "--redis", "redis://127.0.0.1:1", "--name", "x", "t", "p"}, code: exitUsage, stderr: []string{"pubsub publish: cannot connect to Redis at 127.0.0.1:1: "}, quietOut: true},
		{name: "nodes argument", args: []string{"nodes", "--redis", "redis://localhost", "x"}, code: exitUsage, stderr: []string{`pubsub nodes: unexpected argument "x"`}, quietOut: true},
		{name: "nodes bad wait", args: []string{"nodes", "--redis", "redis://localhost", "--wait", "0s"}, code: exitUsage, stderr: []string{"pubsub nodes: -wait 0s is outside"}, quietOut: true},
		{name: "nodes unreachable", args: []string{"nodes", "--redis", "redis://127.0.0.1:1", "--name", "x"}, code: exitUsage, stderr: []string{"pubsub nodes: cannot connect to Redis at 127.0.0.1:1: "}, quietOut: true},
		{name: "presence no tracker", args: []string{"presence", "--redis", "redis://localhost", "--name", "x", "t"}, code: exitUsage, stderr: []string{"pubsub presence: --tracker is required"}, quietOut: true},
		{name: "presence no topic", args: []string{"presence", "--redis", "redis://localhost", "--name", "x", "--tracker", "p"}, code: exitUsage, stderr: []string{"pubsub presence: missing TOPIC"}, quietOut: true},
		{name: "presence two topics", args: []string{"presence", "--redis", "redis://localhost", "--name", "x", "--tracker", "p", "a", "b"}, code: exitUsage, stderr: []string{"pubsub presence: too many arguments"}, quietOut: true},
		{name: "presence bad pool size", args: []string{"presence", "--redis", "redis://localhost", "--name", "x", "--tracker", "p", "--pool-size", "0", "t"}, code: exitUsage, stderr: []string{"pubsub presence: -pool-size 0 is outside 1..1024"}, quietOut: true},
		{name: "presence unreachable", args: []string{"presence", "--redis", "redis://127.0.0.1:1", "--name", "x", "--tracker", "p", "t"}, code: exitUsage, stderr: []string{"pubsub presence: cannot connect to Redis at 127.0.0.1:1: "}, quietOut: true},
		{name: "bench bad duration", args: []string{"bench", "--duration", "0s"}, code: exitUsage, stderr: []string{"pubsub bench: -duration 0s is outside 1ms..10m"}, quietOut: true},
		{name: "bench unreachable", args: []string{"bench", "--redis", "redis://127.0.0.1:1"}, code: exitUsage, stderr: []string{"pubsub bench: cannot connect to Redis at 127.0.0.1:1: "}, quietOut: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, &stdout, &stderr)
			}
			assertLines(t, stdout.String(), tc.stdout...)
			assertLines(t, stderr.String(), tc.stderr...)
			if tc.quietOut && stdout.Len() > 0 {
				t.Errorf("unexpected stdout:\n%s", &stdout)
			}
			if tc.quietError && stderr.Len() > 0 {
				t.Errorf("unexpected stderr:\n%s", &stderr)
			}
			if strings.Contains(stderr.String(), "hunter2") {
				t.Errorf("the password shows in:\n%s", &stderr)
			}
		})
	}
}

func TestDemoInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"demo"}, &stdout, &stderr); code != exitFailure {
		t.Fatalf("exit status %d, want %d", code, exitFailure)
	}
	assertLines(t, stderr.String(), "pubsub demo: context canceled")
}

// TestDemoRealRedis runs the demo against the real Redis of PHXGO_REDIS_URL.
func TestDemoRealRedis(t *testing.T) {
	url := os.Getenv("PHXGO_REDIS_URL")
	if url == "" {
		if os.Getenv("PHXGO_REDIS_REQUIRED") == "1" {
			t.Fatal("PHXGO_REDIS_URL is not set but PHXGO_REDIS_REQUIRED=1: real-Redis tests must run")
		}
		t.Skip("set PHXGO_REDIS_URL=redis://127.0.0.1:6379/0 to run the demo against a real Redis")
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"demo", "--redis", url}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	lines := append([]string{}, demoLines...)
	lines[0] = "node-a, node-b and node-c joined, each with its own Redis adapter"
	assertLines(t, stdout.String(), lines...)
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestPublishTail runs tail and publish in-process against a miniredis.
func TestPublishTail(t *testing.T) {
	m, url := miniRedis(t)
	const name = "chat"
	broadcast := "phx:{" + name + "}:broadcast"

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var tailOut, tailErr syncBuffer
	tailDone := make(chan int, 1)
	go func() {
		tailDone <- run(ctx, []string{"tail", "--redis", url, "--name", name, "--json", "--bytes", "hex", "room:*", "other"}, &tailOut, &tailErr)
	}()
	eventually(t, 10*time.Second, "tail to subscribe", func() bool { return numSub(m, broadcast) == 1 })

	// publish with a PAYLOAD argument, then lines of standard input.
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"publish", "--redis", url, "--name", name, "room:1", "hello"}, &stdout, &stderr); code != exitOK || stdout.Len()+stderr.Len() > 0 {
		t.Fatalf("publish: exit status %d, stdout %q, stderr %q", code, &stdout, &stderr)
	}
	// The first publish's node has left once Redis has processed its disconnection.
	eventually(t, 10*time.Second, "the first publish to leave", func() bool { return numSub(m, broadcast) == 1 })
	stdin = strings.NewReader("one\n\nthree")
	defer func() { stdin = os.Stdin }()
	stderr.Reset()
	if code := run(t.Context(), []string{"publish", "-v", "--redis", url, "--name", name, "--node", "pub-1", "other"}, &stdout, &stderr); code != exitOK || stdout.Len() > 0 {
		t.Fatalf("publish: exit status %d, stdout %q, stderr %q", code, &stdout, &stderr)
	}
	assertLines(t, stderr.String(), `pubsub publish: published 3 messages to "other" on PubSub "chat" as node "pub-1"`,
		"pubsub publish: 1 connection subscribed to phx:{chat}:broadcast besides this node")

	// A node publishes a []byte, a registered struct, an unregistered map, and on a topic not tailed.
	ps := startNode(t, url, name, "node-x")
	for _, b := range []struct {
		topic   string
		payload any
	}{{"room:2", []byte{0xca, 0xfe}}, {"ignored", "not tailed"}, {"room:3", map[any]any{"k": []any{1, "two"}, 3: true}}} {
		if err := ps.Broadcast(t.Context(), b.topic, b.payload); err != nil {
			t.Fatal(err)
		}
	}
	// Garbage on the channel is counted and noted, never fatal.
	eventually(t, 10*time.Second, "the second publish to leave", func() bool { return numSub(m, broadcast) == 2 })
	if n := m.Publish(broadcast, "garbage"); n != 2 {
		t.Fatalf("garbage reached %d subscribers, want 2", n)
	}
	if err := ps.Broadcast(t.Context(), "room:4", "last"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "tail to print the last message", func() bool { return strings.Contains(tailOut.String(), "last") })
	cancel()
	if code := <-tailDone; code != exitOK {
		t.Fatalf("tail: exit status %d; stderr:\n%s", code, tailErr.String())
	}
	want := []tailRecord{
		{Topic: "room:1", Origin: "", Type: "string", Payload: "hello"},
		{Topic: "other", Origin: "pub-1", Type: "string", Payload: "one"},
		{Topic: "other", Origin: "pub-1", Type: "string", Payload: ""},
		{Topic: "other", Origin: "pub-1", Type: "string", Payload: "three"},
		{Topic: "room:2", Origin: "node-x", Type: "[]byte", Payload: "cafe"},
		{Topic: "room:3", Origin: "node-x", Type: "", Payload: map[string]any{"k": []any{1.0, "two"}, "3": true}},
		{Topic: "room:4", Origin: "node-x", Type: "string", Payload: "last"},
	}
	lines := strings.Split(strings.TrimSpace(tailOut.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("tail printed %d lines, want %d:\n%s", len(lines), len(want), tailOut.String())
	}
	for i, line := range lines {
		var got tailRecord
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, line)
		}
		if i == 0 {
			if !strings.HasPrefix(got.Origin, "publish-") {
				t.Errorf("line 1: origin %q, want publish-<random>", got.Origin)
			}
			got.Origin = ""
		}
		if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want[i]); g != w {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, g, w)
		}
	}
	assertLines(t, tailErr.String(), `pubsub tail: listening to PubSub "chat"`, `cannot show a frame: wire: malformed frame: no "PX" magic`, "1 bad frame could not be shown")
}

func TestTailText(t *testing.T) {
	for _, tc := range []struct {
		typ, payload, bytesAs, want string
	}{
		{"string", "hi \"you\"\n", "base64", `"hi \"you\"\n"`},
		{"[]byte", "\x01\x02", "base64", "AQI="},
		{"[]byte", "\x01\x02", "hex", "0102"},
		{"", "\xc0", "base64", "null"},
		{"", "\x92\x01\xc4\x01\xff", "hex", `[1,"ff"]`},                  // [1, bin ff]
		{"x", "\x81\x91\x01\x02", "hex", `{"[1]":2}`},                    // {[1]: 2}: a key JSON cannot hold
		{"x", "\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", "base64", `"NaN"`}, // float64 NaN
	} {
		v, err := decodeTailPayload(tc.typ, tc.payload, tc.bytesAs)
		if err != nil {
			t.Errorf("%q: %v", tc.payload, err)
			continue
		}
		if got := showPayload(tc.typ, v); got != tc.want {
			t.Errorf("%q shown as %s, want %s", tc.payload, got, tc.want)
		}
	}
	for _, bad := range []string{"", "\xdd\xff\xff\xff\xff", "\xc1", "\x91", "\xd4\x05\x00"} { // empty, huge array, reserved, truncated, unknown ext
		if v, err := decodeTailPayload("", bad, "hex"); err == nil {
			t.Errorf("%q decoded as %v", bad, v)
		}
	}
	for _, tc := range []struct {
		pattern, topic string
		want           bool
	}{{"*", "", true}, {"*", "a", true}, {"room:*", "room:1", true}, {"room:*", "roo", false}, {"a*c*e", "abcde", true}, {"a*c*e", "ace", true}, {"a*c*e", "acd", false}, {"a", "a", true}, {"a", "ab", false}, {"*:x", "a:x:x", true}} {
		if got := globMatch(tc.pattern, tc.topic); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pattern, tc.topic, got)
		}
	}
}

// TestNodes lists a node started in this process, a channel with a subscriber that sends no probes,
// and the PubSubs on the Redis.
func TestNodes(t *testing.T) {
	m, url := miniRedis(t)
	startNode(t, url, "app", "web-1")
	// A subscriber on a node channel that never probes (a stuck node, say).
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ghost := rdb.Subscribe(t.Context(), "phx:{app}:node:ghost")
	defer ghost.Close()
	eventually(t, 10*time.Second, "the ghost to subscribe", func() bool { return numSub(m, "phx:{app}:node:ghost") == 1 })

	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"nodes", "--redis", url, "--name", "app", "--wait", "500ms"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s", code, &stderr)
	}
	out := stdout.String()
	assertLines(t, out, "NODE", "INCARNATION", "LAST HEARD")
	var web, ghostRow string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "web-1 "):
			web = line
		case strings.HasPrefix(line, "ghost "):
			ghostRow = line
		}
	}
	if f := strings.Fields(web); len(f) != 4 || len(f[1]) != 32 || !strings.HasSuffix(web, "s ago") {
		t.Errorf("web-1's row is %q, want name, 32 hex digits, last heard", web)
	}
	if !strings.HasSuffix(ghostRow, "no probe heard") {
		t.Errorf("ghost's row is %q, want no probe heard", ghostRow)
	}

	stdout.Reset()
	if code := run(t.Context(), []string{"nodes", "--json", "--redis", url, "--name", "app", "--wait", "500ms"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s", code, &stderr)
	}
	type record struct {
		Node        string
		Incarnation *string
		AgoSeconds  *float64 `json:"ago_seconds"`
	}
	var recs []record
	dec := json.NewDecoder(&stdout)
	for {
		var r record
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 2 || recs[0].Node != "ghost" || recs[0].Incarnation != nil || recs[1].Node != "web-1" || recs[1].Incarnation == nil || recs[1].AgoSeconds == nil {
		t.Errorf("records %+v, want ghost without probe and web-1 with one", recs)
	}

	stdout.Reset()
	if code := run(t.Context(), []string{"nodes", "--redis", url}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s", code, &stderr)
	}
	assertLines(t, stdout.String(), "PUBSUB   NODES   BROADCAST SUBSCRIBERS\napp      2       1\n")

	stdout.Reset()
	if code := run(t.Context(), []string{"nodes", "--redis", url, "--name", "nobody"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s", code, &stderr)
	}
	assertLines(t, stdout.String(), "No live nodes: no channel phx:{nobody}:node:* has a subscriber.")
}

// trackPresences starts a node with a tracker named trackerName (tracker.TestConfig's timings: a
// BroadcastPeriod of 100 ms) that tracks user:1 and user:2 in room:lobby, closed at cleanup.
func trackPresences(t *testing.T, url, name, node, trackerName string) *tracker.Tracker {
	t.Helper()
	ps := startNode(t, url, name, node)
	tr, err := tracker.New(ps, tracker.TestConfig(trackerName, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() }) // runs before the node's Close
	owner, err := ps.NewSubscriber()
	if err != nil {
		t.Fatal(err)
	}
	for key, status := range map[string]string{"user:1": "online", "user:2": "away"} {
		if _, err := tr.Track(owner, "room:lobby", key, map[string]any{"status": status}); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// TestPresence runs "pubsub presence" in-process against a node of this test.
func TestPresence(t *testing.T) {
	_, url := miniRedis(t)
	trackPresences(t, url, "app", "web-1", "presence")
	var stdout, stderr bytes.Buffer
	args := []string{"presence", "--redis", url, "--name", "app", "--tracker", "presence", "--period", "100ms", "--wait", "1s", "--json", "room:lobby"}
	if code := run(t.Context(), args, &stdout, &stderr); code != exitOK || stderr.Len() > 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, &stderr)
	}
	var got []string
	dec := json.NewDecoder(&stdout)
	for {
		var r struct {
			Key, Node string
			Ref       string `json:"phx_ref"`
			Meta      map[string]any
		}
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if r.Ref == "" {
			t.Errorf("%s: no phx_ref", r.Key)
		}
		got = append(got, fmt.Sprintf("%s %s %v", r.Key, r.Node, r.Meta))
	}
	if want := "user:1 web-1 map[status:online],user:2 web-1 map[status:away]"; strings.Join(got, ",") != want {
		t.Errorf("presences %q, want %q", got, want)
	}

	// A topic with no presences.
	stdout.Reset()
	args = []string{"presence", "--redis", url, "--name", "app", "--tracker", "presence", "--period", "100ms", "--wait", "300ms", "room:empty"}
	if code := run(t.Context(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s", code, &stderr)
	}
	assertLines(t, stdout.String(), `No presences in "room:empty".`)
}

// TestBinary builds the command and runs it as a user would.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	bin := filepath.Join(t.TempDir(), "pubsub")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	runBin := func(t *testing.T, args ...string) (code int, stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		start := time.Now()
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("pubsub %s did not end within 60s", strings.Join(args, " "))
		}
		var exitErr *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exitErr):
			code = exitErr.ExitCode()
		default:
			t.Fatalf("run pubsub: %v", err)
		}
		t.Logf("pubsub %s: exit %d in %v", strings.Join(args, " "), code, time.Since(start).Round(time.Millisecond))
		if strings.Contains(errOut.String(), "goroutine ") {
			t.Errorf("a stack trace on stderr:\n%s", &errOut)
		}
		return code, out.String(), errOut.String()
	}

	t.Run("demo", func(t *testing.T) {
		code, stdout, stderr := runBin(t, "demo")
		if code != 0 || stderr != "" {
			t.Fatalf("exit status %d, stderr %q", code, stderr)
		}
		assertLines(t, stdout, demoLines...)
	})
	t.Run("demo real Redis", func(t *testing.T) {
		url := os.Getenv("PHXGO_REDIS_URL")
		if url == "" {
			if os.Getenv("PHXGO_REDIS_REQUIRED") == "1" {
				t.Fatal("PHXGO_REDIS_URL is not set but PHXGO_REDIS_REQUIRED=1: real-Redis tests must run")
			}
			t.Skip("set PHXGO_REDIS_URL=redis://127.0.0.1:6379/0 to run the demo against a real Redis")
		}
		code, stdout, stderr := runBin(t, "demo", "--redis", url)
		if code != 0 || stderr != "" {
			t.Fatalf("exit status %d, stderr %q", code, stderr)
		}
		assertLines(t, stdout, demoLines[1:]...)
	})
	t.Run("publish and tail", func(t *testing.T) {
		m, url := miniRedis(t)
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		tail := exec.CommandContext(ctx, bin, "tail", "--redis", url, "--name", "chat", "--json", "room:*")
		out, err := tail.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var tailErr bytes.Buffer
		tail.Stderr = &tailErr
		if err := tail.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 16)
		go func() { // ends when tail exits and its stdout closes
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		eventually(t, 30*time.Second, "tail to subscribe", func() bool { return numSub(m, "phx:{chat}:broadcast") == 1 })

		for _, payload := range []string{"first message", "second message"} {
			if code, stdout, stderr := runBin(t, "publish", "--redis", url, "--name", "chat", "--node", "cli", "room:lobby", payload); code != 0 || stdout != "" || stderr != "" {
				t.Fatalf("publish: exit status %d, stdout %q, stderr %q", code, stdout, stderr)
			}
		}
		for _, want := range []string{"first message", "second message"} {
			select {
			case line := <-lines:
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("%v: %q", err, line)
				}
				if rec["topic"] != "room:lobby" || rec["origin"] != "cli" || rec["type"] != "string" || rec["payload"] != want || len(rec) != 4 {
					t.Errorf("got %s, want topic room:lobby, origin cli, type string, payload %q", line, want)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("tail printed no line for %q; stderr:\n%s", want, &tailErr)
			}
		}
		if err := tail.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		for line := range lines {
			t.Errorf("unexpected line %q", line)
		}
		if err := tail.Wait(); err != nil {
			t.Fatalf("tail after an interrupt: %v (want exit status 0); stderr:\n%s", err, &tailErr)
		}
	})
	t.Run("nodes", func(t *testing.T) {
		_, url := miniRedis(t)
		startNode(t, url, "app", "web-1")
		code, stdout, stderr := runBin(t, "nodes", "--redis", url, "--name", "app", "--wait", "1s")
		if code != 0 || stderr != "" {
			t.Fatalf("exit status %d, stderr %q", code, stderr)
		}
		assertLines(t, stdout, "NODE ", "\nweb-1 ", "s ago\n")
	})
	t.Run("presence", func(t *testing.T) {
		_, url := miniRedis(t)
		trackPresences(t, url, "app", "web-1", "presence")
		code, stdout, stderr := runBin(t, "presence", "--redis", url, "--name", "app", "--tracker", "presence", "--period", "100ms", "--wait", "1s", "room:lobby")
		if code != 0 || stderr != "" {
			t.Fatalf("exit status %d, stderr %q", code, stderr)
		}
		assertLines(t, stdout, "KEY ", "NODE ", "PHX_REF ", "META\n", "\nuser:1 ", "\nuser:2 ", " web-1 ", `{"status":"away"}`, `{"status":"online"}`)
		code, _, stderr = runBin(t, "presence", "--redis", url, "--name", "app", "room:lobby")
		if code != 2 {
			t.Fatalf("without --tracker: exit status %d, want 2", code)
		}
		assertLines(t, stderr, "pubsub presence: --tracker is required")
	})
	t.Run("bench", func(t *testing.T) {
		_, url := miniRedis(t)
		code, stdout, stderr := runBin(t, "bench", "--duration", "5ms", "--redis", url, "--broadcasters", "4", "--rate", "200")
		if code != 0 || stderr != "" {
			t.Fatalf("exit status %d, stderr %q", code, stderr)
		}
		assertLines(t, stdout, "CASE   ", "COST VS FLOOR\n", "fan-out to 10 000 subscribers", "THROUGHPUT", "node A → node B through the adapter", "P99")
	})
	t.Run("unreachable Redis", func(t *testing.T) {
		for _, cmd := range [][]string{{"demo"}, {"tail", "--name", "x", "t"}, {"publish", "--name", "x", "t", "p"}, {"nodes", "--name", "x"}, {"presence", "--name", "x", "--tracker", "p", "t"}, {"bench"}} {
			code, stdout, stderr := runBin(t, append(cmd, "--redis", "redis://127.0.0.1:1")...)
			if code != 2 || stdout != "" {
				t.Errorf("%s: exit status %d, stdout %q; want 2 and nothing", cmd[0], code, stdout)
			}
			if want := "pubsub " + cmd[0] + ": cannot connect to Redis at 127.0.0.1:1: "; !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%s: stderr %q, want one line starting %q", cmd[0], stderr, want)
			}
		}
	})
	t.Run("bad flag", func(t *testing.T) {
		code, stdout, stderr := runBin(t, "demo", "-nope")
		if code != 2 || stdout != "" {
			t.Fatalf("exit status %d, stdout %q; want 2 and nothing", code, stdout)
		}
		assertLines(t, stderr, "flag provided but not defined: -nope")
	})
	t.Run("missing topic", func(t *testing.T) {
		code, stdout, stderr := runBin(t, "tail", "--redis", "redis://127.0.0.1:1", "--name", "x")
		if code != 2 || stdout != "" {
			t.Fatalf("exit status %d, stdout %q; want 2 and nothing", code, stdout)
		}
		assertLines(t, stderr, "pubsub tail: missing TOPIC")
	})
	t.Run("unknown command", func(t *testing.T) {
		code, _, stderr := runBin(t, "frob")
		if code != 2 {
			t.Fatalf("exit status %d, want 2", code)
		}
		assertLines(t, stderr, `unknown command "frob"`)
	})
}
