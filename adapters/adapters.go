// Package adapters picks a pubsub.Adapter from one configuration string, so that programs and the
// command line can move between a single node and a Redis cluster without code changes:
//
//	a, err := adapters.Open(os.Getenv("PUBSUB_URL"), adapters.Options{NodeName: "web-1"})
//	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "chat", Adapter: a})
//
// "local:" is the single-node adapter (localadapter); "redis://…" and "rediss://…" (TLS) are the Redis
// adapter (redisadapter), with go-redis's URL syntax: redis://[user:password@]host:port/db.
package adapters

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/localadapter"
	"github.com/phxgo/pubsub/redisadapter"
)

// Options are the settings Open passes on to the adapter it makes.
type Options struct {
	NodeName string       // "" means the adapter's default
	Logger   *slog.Logger // Redis only; nil means the PubSub's
}

// Open returns the adapter that url names. (Signing is the PubSub's: pubsub.Config.Secrets.) An empty url means "local:". A URL of another scheme is an
// error wrapping pubsub.ErrInvalidConfig. Open does not connect: the PubSub does, in pubsub.New.
func Open(url string, opts Options) (pubsub.Adapter, error) {
	switch {
	case url == "" || url == "local:":
		return localadapter.New(opts.NodeName), nil
	case strings.HasPrefix(url, "redis://"), strings.HasPrefix(url, "rediss://"):
		return redisadapter.New(redisadapter.Config{URL: url, NodeName: opts.NodeName, Logger: opts.Logger})
	}
	scheme, _, _ := strings.Cut(url, ":")
	return nil, fmt.Errorf("%w: adapter URL %q: unknown scheme %q (want local:, redis:// or rediss://)", pubsub.ErrInvalidConfig, redact(url), scheme)
}

// redact hides a password in a URL for error messages.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		return scheme + "://…@" + rest[at+1:]
	}
	return url
}
