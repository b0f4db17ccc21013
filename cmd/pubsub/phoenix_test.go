package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/pubsub/internal/etf"
)

func goldenFrame(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("../../../shared/interop/golden", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pubsub publish --phoenix sends what Elixir sends; pubsub tail --phoenix shows Elixir's frames
// decoded, and counts what is not a frame.
func TestPhoenixPublishTail(t *testing.T) {
	m, url := miniRedis(t)
	const channel = "phx:Elixir.MyApp.PubSub.Adapter"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var tailOut, tailErr syncBuffer
	tailDone := make(chan int, 1)
	go func() {
		tailDone <- run(ctx, []string{"tail", "--redis", url, "--phoenix", "MyApp.PubSub", "--json", "room:*"}, &tailOut, &tailErr)
	}()
	eventually(t, 10*time.Second, "tail to subscribe", func() bool { return numSub(m, channel) == 1 })

	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"publish", "--redis", url, "--phoenix", "MyApp.PubSub", "--node", "a@127.0.0.1",
		"--event", "new_msg", "--json", "room:lobby", `{"body":"hi"}`}, &stdout, &stderr); code != exitOK || stdout.Len()+stderr.Len() > 0 {
		t.Fatalf("publish: exit status %d, stdout %q, stderr %q", code, &stdout, &stderr)
	}
	stdin = strings.NewReader("one\ntwo")
	defer func() { stdin = os.Stdin }()
	if code := run(t.Context(), []string{"publish", "-v", "--redis", url, "--phoenix", "MyApp.PubSub", "--node", "a@127.0.0.1", "--to", "b@127.0.0.1", "room:2"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("publish: exit status %d, stderr %q", code, &stderr)
	}
	assertLines(t, stderr.String(), `pubsub publish: published 2 messages to "room:2" on Phoenix PubSub "MyApp.PubSub" (channel phx:Elixir.MyApp.PubSub.Adapter) as node "a@127.0.0.1"`)
	m.Publish(channel, goldenFrame(t, "pubsub_broadcast_erlang_terms"))
	m.Publish(channel, goldenFrame(t, "tracker_heartbeat_empty")) // not tailed
	m.Publish(channel, "garbage")
	m.Publish(channel, goldenFrame(t, "pubsub_broadcast_string"))
	eventually(t, 10*time.Second, "tail to print the last message", func() bool { return strings.Count(tailOut.String(), "\n") >= 5 })
	cancel()
	if code := <-tailDone; code != exitOK {
		t.Fatalf("tail: exit status %d; stderr:\n%s", code, tailErr.String())
	}
	want := []tailRecordPhoenix{
		{Topic: "room:lobby", Mode: "broadcast", Node: "a@127.0.0.1", Dispatcher: "Phoenix.Channel.Server",
			Payload: map[string]any{"__struct__": "Phoenix.Socket.Broadcast", "topic": "room:lobby", "event": "new_msg", "payload": map[string]any{"body": "hi"}},
			Inspect: `%Phoenix.Socket.Broadcast{topic: "room:lobby", event: "new_msg", payload: %{"body" => "hi"}}`},
		{Topic: "room:2", Mode: "direct", Node: "b@127.0.0.1", Dispatcher: "Phoenix.PubSub", Payload: "one", Inspect: `"one"`},
		{Topic: "room:2", Mode: "direct", Node: "b@127.0.0.1", Dispatcher: "Phoenix.PubSub", Payload: "two", Inspect: `"two"`},
		{Topic: "room:lobby", Mode: "broadcast", Node: "a@127.0.0.1", Dispatcher: "Phoenix.PubSub",
			Payload: `{:user_joined, #PID<a@127.0.0.1.102.0>, #Reference<a@127.0.0.1.1907266652.3749183489.191366>, Some.Module, 3.14, [1 | 2], <<1 bytes, 3 bits in the last>>}`,
			Inspect: `{:user_joined, #PID<a@127.0.0.1.102.0>, #Reference<a@127.0.0.1.1907266652.3749183489.191366>, Some.Module, 3.14, [1 | 2], <<1 bytes, 3 bits in the last>>}`},
		{Topic: "room:lobby", Mode: "broadcast", Node: "a@127.0.0.1", Dispatcher: "Phoenix.PubSub", Payload: "hello", Inspect: `"hello"`},
	}
	lines := strings.Split(strings.TrimSpace(tailOut.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("tail printed %d lines, want %d:\n%s", len(lines), len(want), tailOut.String())
	}
	for i, line := range lines {
		var got tailRecordPhoenix
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, line)
		}
		if g, w := compactJSON(got), compactJSON(want[i]); g != w {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, g, w)
		}
	}
	assertLines(t, tailErr.String(), `pubsub tail: listening to PubSub "MyApp.PubSub"`, "cannot show a frame: not a term", "1 bad frame could not be shown")

	// Usage errors: Phoenix flags without --phoenix, and payloads Elixir cannot take.
	for _, args := range [][]string{
		{"publish", "--redis", url, "--name", "x", "--event", "e", "t", "p"},
		{"publish", "--redis", url, "--phoenix", "MyApp.PubSub", "--json", "t", "{not json"},
		{"publish", "--redis", url, "--phoenix", "MyApp.PubSub", "--dispatcher", "d", "t", "p"},
		{"publish", "--redis", url, "--phoenix", "MyApp.PubSub", "--compression", "11", "t", "p"},
	} {
		stderr.Reset()
		if code := run(t.Context(), args, &stdout, &stderr); code == exitOK {
			t.Errorf("%q: exit status 0, stderr %q", args, &stderr)
		}
	}
}

func TestInspect(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{etf.Atom("ok"), ":ok"}, {etf.Atom("a@127.0.0.1"), `:"a@127.0.0.1"`}, {etf.Atom("Elixir.MyApp"), "MyApp"},
		{etf.Map{{Key: etf.Atom("status"), Value: "on"}}, `%{:status => "on"}`},
		{map[string]any{"b": int64(1), "a": nil}, `%{"a" => nil, "b" => 1}`},
		{[]any{true, 1.5}, "[true, 1.5]"},
	} {
		if got := inspect(tc.v); got != tc.want {
			t.Errorf("inspect(%#v) = %s, want %s", tc.v, got, tc.want)
		}
	}
	if v, err := parseJSONPayload(`{"n":12345678901234567890123,"f":1.5,"i":3,"l":[null]}`); err != nil ||
		inspect(v) != `%{"f" => 1.5, "i" => 3, "l" => [nil], "n" => 12345678901234567890123}` {
		t.Errorf("parseJSONPayload: %s, %v", inspect(v), err)
	}
}
