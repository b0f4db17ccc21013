package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
)

func publishUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage:\n  pubsub publish --redis URL --name NAME [flags] TOPIC [PAYLOAD]")
	fmt.Fprintln(w, "\nPublish broadcasts PAYLOAD, as a string, to the subscribers of TOPIC on every node of the PubSub")
	fmt.Fprintln(w, "NAME. Without PAYLOAD it broadcasts each line of standard input as one message (without its line")
	fmt.Fprintln(w, "ending; an empty line is an empty message). It joins the PubSub as a node for as long as it runs,")
	fmt.Fprintln(w, "through the Redis adapter, exactly as a program would, and prints nothing on success.")
	fmt.Fprintln(w, "Pub/sub keeps nothing: a message reaches the nodes subscribed when it is sent, no others.")
	printFlags(w, fs)
	fmt.Fprintln(w, "\nExamples:")
	fmt.Fprintln(w, "  pubsub publish --redis redis://localhost:6379/0 --name chat room:lobby 'hello, everyone'")
	fmt.Fprintln(w, "  tail -f app.log | pubsub publish --redis redis://localhost:6379/0 --name chat -v logs")
	fmt.Fprintln(w, "  pubsub publish --redis redis://localhost:6379/0 --name chat room:lobby -- -1")
	fmt.Fprintln(w, "  pubsub publish --redis redis://localhost:6379/0 --phoenix MyApp.PubSub --event new_msg --json room:lobby '{\"body\":\"hi\"}'")
}

// nopDispatcher stands in for a dispatcher the publishing node only names: the broadcast carries the
// name to the other nodes, which run their own dispatcher of that name. It has no local subscribers
// to dispatch to.
type nopDispatcher struct{}

func (nopDispatcher) Dispatch([]pubsub.Entry, *pubsub.Subscriber, pubsub.Message) {}

// runPublish is "pubsub publish".
func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pubsub publish", flag.ContinueOnError)
	var rf redisFlags
	rf.register(fs, true)
	node := fs.String("node", "", "this node's `name` (default \"publish-<random>\")")
	dispatcher := fs.String("dispatcher", "", "broadcast through the dispatcher registered under `name` on the nodes (pubsub.WithDispatcher)")
	secretEnv := fs.String("secret-env", "", "sign frames with the secret in environment variable `VAR` (pubsub.Config.Secrets)")
	verbose := fs.Bool("v", false, "print the count of messages published, and of the connections subscribed, to standard error")
	var phx phoenixPublish
	fs.StringVar(&phx.name, "phoenix", "", "publish to the Elixir application's Phoenix PubSub `NAME` (MyApp.PubSub) instead, as phoenix_pubsub_redis 3.x does; --name is not needed")
	fs.StringVar(&phx.event, "event", "", "with --phoenix: send each payload as %Phoenix.Socket.Broadcast{topic, `event`, payload}, as Endpoint.broadcast does")
	fs.BoolVar(&phx.json, "json", false, "with --phoenix: the payload is JSON (objects become maps with binary keys)")
	fs.StringVar(&phx.direct, "to", "", "with --phoenix: a direct broadcast to the node `name` (Phoenix.PubSub.direct_broadcast)")
	fs.IntVar(&phx.compression, "compression", 0, "with --phoenix: zlib `level` 0..9 (compression_level)")
	rest, code, ok := parseArgs(fs, args, stdout, stderr, publishUsage)
	if !ok {
		return code
	}
	target, ok := rf.target(stderr, fs.Name(), phx.name == "")
	if !ok {
		return exitUsage
	}
	if phx.name == "" && (phx.event != "" || phx.json || phx.direct != "" || phx.compression != 0) {
		return usageError(stderr, fs, "--event, --json, --to and --compression need --phoenix")
	}
	switch {
	case len(rest) == 0:
		return usageError(stderr, fs, "missing TOPIC")
	case len(rest) > 2:
		return usageError(stderr, fs, "too many arguments: want TOPIC and at most one PAYLOAD (quote it), got %d", len(rest))
	case rest[0] == "":
		return usageError(stderr, fs, "TOPIC is empty")
	}
	topic := rest[0]
	if phx.name != "" {
		if *dispatcher != "" || *secretEnv != "" {
			return usageError(stderr, fs, "--dispatcher and --secret-env do not apply to --phoenix (see --event)")
		}
		if code := target.reach(ctx, stderr, "publish", exitFailure); code != exitOK {
			return code
		}
		phx.node, phx.verbose = *node, *verbose
		return phx.run(ctx, target, topic, rest[1:], stderr)
	}
	secret, err := secretFromEnv(*secretEnv)
	if err != nil {
		return usageError(stderr, fs, "%v", err)
	}
	if *node == "" {
		*node = "publish-" + randomHex(3)
	}
	if code := target.reach(ctx, stderr, "publish", exitFailure); code != exitOK {
		return code
	}
	cfg := pubsub.Config{}
	var opts []pubsub.BroadcastOption
	if *dispatcher != "" {
		cfg.Dispatchers = map[string]pubsub.Dispatcher{*dispatcher: nopDispatcher{}}
		opts = append(opts, pubsub.WithDispatcher(*dispatcher))
	}
	ps, _, err := target.startNode(nodeConfig{pubsubName: rf.name, nodeName: *node, prefix: rf.prefix, secret: secret, pubsub: cfg})
	if err != nil {
		if errors.Is(err, pubsub.ErrInvalidConfig) {
			return usageError(stderr, fs, "%v", err)
		}
		fmt.Fprintf(stderr, "pubsub publish: %v\n", err)
		return exitUsage
	}
	defer ps.Close()

	n, err := publishAll(ctx, ps, topic, rest[1:], opts)
	if *verbose {
		fmt.Fprintf(stderr, "pubsub publish: published %s to %q on PubSub %q as node %q\n", plural(uint64(n), "message"), topic, rf.name, *node)
		if err == nil {
			reportListeners(ctx, target, rf, stderr)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "pubsub publish: %v\n", err)
		return exitFailure
	}
	if err := ps.Close(); err != nil {
		fmt.Fprintf(stderr, "pubsub publish: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// publishAll broadcasts the payload argument, or each line of stdin, and returns how many it
// broadcast.
func publishAll(ctx context.Context, ps *pubsub.PubSub, topic string, payload []string, opts []pubsub.BroadcastOption) (int, error) {
	if len(payload) == 1 {
		if err := ps.Broadcast(ctx, topic, payload[0], opts...); err != nil {
			return 0, err
		}
		return 1, nil
	}
	// Lines are read on a goroutine of their own, so that an interrupt is seen while a read blocks.
	// On an interrupt that goroutine is left blocked in the read; the process is about to exit.
	type line struct {
		text string
		eof  bool
		err  error
	}
	lines := make(chan line)
	done := make(chan struct{})
	defer close(done)
	go func() {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), redisadapter.DefaultMaxMessageSize)
		for sc.Scan() {
			select {
			case lines <- line{text: sc.Text()}:
			case <-done:
				return
			}
		}
		err := sc.Err()
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than a message may be (%d bytes)", redisadapter.DefaultMaxMessageSize)
		}
		select {
		case lines <- line{eof: true, err: err}:
		case <-done:
		}
	}()
	n := 0
	for {
		select {
		case l := <-lines:
			switch {
			case l.err != nil:
				return n, fmt.Errorf("read standard input: %w", l.err)
			case l.eof:
				return n, nil
			}
			if err := ps.Broadcast(ctx, topic, l.text, opts...); err != nil {
				return n, err
			}
			n++
		case <-ctx.Done():
			return n, fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
}

// reportListeners says how many connections subscribe to the PubSub's broadcast channel, this one
// excluded: a message published when it is 0 reached no one.
func reportListeners(ctx context.Context, target *redisTarget, rf redisFlags, stderr io.Writer) {
	rdb := target.client()
	defer rdb.Close()
	ch := newChannelNames(rf.prefix, rf.name).broadcast()
	counts, err := rdb.PubSubNumSub(ctx, ch).Result()
	if err != nil {
		return
	}
	fmt.Fprintf(stderr, "pubsub publish: %s subscribed to %s besides this node\n", plural(uint64(max(counts[ch]-1, 0)), "connection"), ch)
}
