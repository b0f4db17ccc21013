package redisadapter_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// aclUser creates user with password pw and the given ACL rules on the Redis at adminURL.
func aclUser(t testing.TB, adminURL, user, pw string, rules ...string) string {
	t.Helper()
	args := []any{"ACL", "SETUSER", user, "reset", "on", ">" + pw}
	for _, r := range rules {
		args = append(args, r)
	}
	rdb := plainClient(t, adminURL)
	if err := rdb.Do(ctx, args...).Err(); err != nil {
		t.Fatalf("ACL SETUSER %s %v: %v", user, rules, err)
	}
	return strings.Replace(adminURL, "redis://", fmt.Sprintf("redis://%s:%s@", user, pw), 1)
}

// A Redis user restricted to the PubSub's own channels, with only SUBSCRIBE and PUBLISH, is all a node
// needs: nodes connected as that user deliver to each other. Users without a permission the adapter
// needs, or with a wrong password, get a clear error from pubsub.New, quickly.
func TestACLRestrictedUser(t *testing.T) {
	srv := startRedis(t) // private: ACL users are server-wide
	name := uniqueName(t)
	// The minimal grant: go-redis's connection set-up (HELLO with AUTH; CLIENT SETINFO, whose failure
	// it ignores) needs no command permission, and the adapter uses nothing but SUBSCRIBE and PUBLISH.
	url := aclUser(t, srv.URL(), "phx", "s3cret", "resetchannels", "&phx:{"+name+"}:*", "-@all", "+subscribe", "+publish")
	a, aa := startNode(t, name, redisadapter.Config{URL: url, NodeName: "a", ProbeInterval: 100 * time.Millisecond}, pubsub.Config{})
	b, ab := startNode(t, name, redisadapter.Config{URL: url, NodeName: "b", ProbeInterval: 100 * time.Millisecond}, pubsub.Config{})
	sa, sb := newSub(t, a), newSub(t, b)
	sa.Subscribe("d") // a's own broadcasts on "t" would reach it locally
	sb.Subscribe("t")
	if err := a.Broadcast(ctx, "t", "restricted"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, sb).Payload; got != "restricted" {
		t.Fatalf("b received %v", got)
	}
	if err := b.DirectBroadcast(ctx, "a", "d", "direct"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, sa).Payload; got != "direct" {
		t.Fatalf("a received %v", got)
	}
	// The probes (PUBLISH to each node's own channel) get through too: no probe failure in 5 intervals.
	time.Sleep(500 * time.Millisecond)
	for node, st := range map[string]redisadapter.Stats{"a": aa.Stats(), "b": ab.Stats()} {
		if st.ProbeFailures != 0 || st.Reconnects != 0 || st.PublishErrors != 0 {
			t.Errorf("node %s: %+v", node, st)
		}
	}

	for _, tc := range []struct {
		what string
		url  string
		want string
	}{
		{"wrong password", strings.Replace(url, "s3cret", "wrong", 1), "WRONGPASS"},
		{"another PubSub's channels", aclUser(t, srv.URL(), "other", "pw", "resetchannels", "&phx:{other}:*", "-@all", "+subscribe", "+publish"), "NOPERM"},
		{"no SUBSCRIBE", aclUser(t, srv.URL(), "nosub", "pw", "resetchannels", "&phx:{"+name+"}:*", "-@all", "+publish"), "NOPERM"},
		{"disabled user", aclUser(t, srv.URL(), "off", "pw", "off", "allchannels", "+@all"), "WRONGPASS"},
	} {
		ad, err := redisadapter.New(redisadapter.Config{URL: tc.url, NodeName: "c"})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ps, err := pubsub.New(context.Background(), pubsub.Config{Name: name, Adapter: ad})
		took := time.Since(start)
		if err == nil {
			ps.Close()
			t.Errorf("%s: pubsub.New succeeded", tc.what)
			continue
		}
		t.Logf("%s: New failed after %v: %v", tc.what, took, err)
		if !strings.Contains(err.Error(), tc.want) || took > 5*time.Second {
			t.Errorf("%s: New failed after %v with %v; want %s, quickly", tc.what, took, err, tc.want)
		}
	}
}
