package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

// pingTimeout bounds the first contact with Redis, so that an unreachable address fails within
// seconds with a clear message instead of hanging.
const pingTimeout = 5 * time.Second

// redisTarget is a --redis URL, parsed and checked.
type redisTarget struct {
	url string
	opt *redis.Options
}

// parseRedisURL checks a --redis URL (go-redis's syntax: redis://[user:password@]host:port/db,
// rediss://… for TLS, unix:///path). The error never repeats the password.
func parseRedisURL(s string) (*redisTarget, error) {
	opt, err := redis.ParseURL(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // url.Error quotes the whole URL, password included
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid --redis URL %q: %v", redactURL(s), err)
	}
	return &redisTarget{url: s, opt: opt}, nil
}

// addr is the host:port (or socket path) the URL names, for messages.
func (t *redisTarget) addr() string { return t.opt.Addr }

// client returns a new go-redis client for the URL; the caller closes it.
func (t *redisTarget) client() *redis.Client {
	opt := *t.opt
	return redis.NewClient(&opt)
}

// errUnreachable marks the errors of check (unreachable, or refused: a wrong password, say): exit
// status 2, since nothing was done.
var errUnreachable = errors.New("cannot connect to Redis")

// check pings Redis with rdb, within pingTimeout, and returns a one-line error naming the address.
func (t *redisTarget) check(ctx context.Context, rdb *redis.Client) error {
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	err := rdb.Ping(pctx).Err()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case pctx.Err() != nil:
		return fmt.Errorf("%w at %s: no answer within %v", errUnreachable, t.addr(), pingTimeout)
	}
	return fmt.Errorf("%w at %s: %v", errUnreachable, t.addr(), err)
}

// checkReachable is check with a client of its own, for commands that then go through the adapter.
// It tries once: go-redis would retry a refused connection for seconds.
func (t *redisTarget) checkReachable(ctx context.Context) error {
	opt := *t.opt
	opt.MaxRetries, opt.DialerRetries = -1, 1
	rdb := redis.NewClient(&opt)
	defer rdb.Close()
	return t.check(ctx, rdb)
}

// reach checks that Redis answers before a command goes on. It returns exitOK when it does; otherwise
// it prints why (as "pubsub CMD: …") and returns the exit code: interrupted if ctx ended (a Ctrl-C
// while checking), exitUsage for a Redis that cannot be reached or refuses us.
func (t *redisTarget) reach(ctx context.Context, stderr io.Writer, cmd string, interrupted int) int {
	err := t.checkReachable(ctx)
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		return interrupted
	}
	fmt.Fprintf(stderr, "pubsub %s: %v\n", cmd, err)
	return exitUsage
}

// quietRedisLog silences go-redis's own log (reconnect attempts, pool errors): the commands report
// what matters themselves, in one line.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

var silenceRedisLog = sync.OnceFunc(func() { redis.SetLogger(quietRedisLog{}) })

// nodeConfig describes one PubSub node to start on a redisTarget.
type nodeConfig struct {
	pubsubName string
	nodeName   string
	prefix     string // "" = redisadapter.DefaultChannelPrefix
	secret     []byte
	pubsub     pubsub.Config // Name and Adapter are filled in
}

// startNode starts a PubSub node with a Redis adapter of its own (its own connections, as a separate
// process would have). Errors are one line and name the Redis address.
func (t *redisTarget) startNode(nc nodeConfig) (*pubsub.PubSub, *redisadapter.Adapter, error) {
	a, err := redisadapter.New(redisadapter.Config{
		URL:           t.url,
		NodeName:      nc.nodeName,
		ChannelPrefix: nc.prefix,
	})
	if err != nil {
		return nil, nil, err
	}
	cfg := nc.pubsub
	cfg.Name, cfg.Adapter = nc.pubsubName, a
	if nc.secret != nil {
		cfg.Secrets = [][]byte{nc.secret}
	}
	ps, err := pubsub.New(context.Background(), cfg) // closes the adapter when it fails
	if err != nil {
		return nil, nil, fmt.Errorf("node %q cannot join PubSub %q on Redis at %s: %w", nc.nodeName, nc.pubsubName, t.addr(), err)
	}
	return ps, a, nil
}

// redactURL hides a password in a URL for messages.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		return scheme + "://…@" + rest[at+1:]
	}
	return s
}

// channelNames are the Redis channels of one PubSub (docs/protocol.md): prefix:{name}:broadcast and
// prefix:{name}:node:<node>.
type channelNames struct{ base string }

func newChannelNames(prefix, pubsubName string) channelNames {
	if prefix == "" {
		prefix = redisadapter.DefaultChannelPrefix
	}
	return channelNames{base: prefix + ":{" + pubsubName + "}:"}
}

func (c channelNames) broadcast() string       { return c.base + "broadcast" }
func (c channelNames) node(name string) string { return c.base + "node:" + name }
func (c channelNames) nodePrefix() string      { return c.base + "node:" }

// globEscape escapes s for a Redis glob pattern (PUBSUB CHANNELS), so that it matches itself only.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// liveNodes returns the names of the nodes whose channel has a subscriber on this Redis server (PUBSUB
// CHANNELS), sorted. Every running node subscribes to its own channel; so, briefly, does `pubsub
// nodes` itself.
func liveNodes(ctx context.Context, rdb *redis.Client, ch channelNames) ([]string, error) {
	channels, err := rdb.PubSubChannels(ctx, globEscape(ch.nodePrefix())+"*").Result()
	if err != nil {
		return nil, fmt.Errorf("PUBSUB CHANNELS: %w", err)
	}
	var nodes []string
	for _, c := range channels {
		if name, ok := strings.CutPrefix(c, ch.nodePrefix()); ok && name != "" {
			nodes = append(nodes, name)
		}
	}
	sort.Strings(nodes)
	return nodes, nil
}

// secretFromEnv reads the frame-signing secret from the environment variable name ("" = none).
func secretFromEnv(name string) ([]byte, error) {
	if name == "" {
		return nil, nil
	}
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return nil, fmt.Errorf("--secret-env: environment variable %s is not set", name)
	}
	return []byte(v), nil
}

// randomHex returns n random bytes in hex, for default names.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// redisFlags are the flags every Redis command shares.
type redisFlags struct {
	url    string
	name   string
	prefix string
}

func (f *redisFlags) register(fs *flag.FlagSet, nameRequired bool) {
	fs.StringVar(&f.url, "redis", "", "Redis `URL`: redis://[user:password@]host:port/db, rediss://… (TLS)")
	if nameRequired {
		fs.StringVar(&f.name, "name", "", "`name` of the PubSub (its Config.Name); required")
	}
	fs.StringVar(&f.prefix, "prefix", redisadapter.DefaultChannelPrefix, "Redis channel `prefix` (redisadapter.Config.ChannelPrefix)")
}

// target checks the shared flags and parses the URL, printing a usage error when they are wrong.
func (f *redisFlags) target(stderr io.Writer, cmd string, needName bool) (*redisTarget, bool) {
	switch {
	case f.url == "":
		fmt.Fprintf(stderr, "%s: --redis URL is required\nRun '%s --help' for usage.\n", cmd, cmd)
		return nil, false
	case needName && f.name == "":
		fmt.Fprintf(stderr, "%s: --name is required (the PubSub's Config.Name)\nRun '%s --help' for usage.\n", cmd, cmd)
		return nil, false
	case f.prefix == "":
		fmt.Fprintf(stderr, "%s: --prefix must not be empty\nRun '%s --help' for usage.\n", cmd, cmd)
		return nil, false
	}
	t, err := parseRedisURL(f.url)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", cmd, err, cmd)
		return nil, false
	}
	return t, true
}
