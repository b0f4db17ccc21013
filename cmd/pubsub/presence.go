package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/tracker"
)

// permdownTimeout bounds the graceful leave of "pubsub presence".
const permdownTimeout = 5 * time.Second

func presenceUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage:\n  pubsub presence --redis URL --name NAME --tracker TRACKER [flags] TOPIC")
	fmt.Fprintln(w, "\nPresence lists the presences of TOPIC in the tracker TRACKER of the PubSub NAME: each presence's")
	fmt.Fprintln(w, "key, the node that tracks it, its phx_ref and its other metadata, as compact JSON. It joins the")
	fmt.Fprintln(w, "PubSub as an observer node (\"presence-<random>\") with a tracker of its own that tracks nothing,")
	fmt.Fprintln(w, "listens for --wait, prints what it has then, and leaves gracefully (GracefulPermdown), so that")
	fmt.Fprintln(w, "the other nodes forget it at once.")
	fmt.Fprintln(w, "\nA new node gets the presences at its first clock sample after hearing the other nodes'")
	fmt.Fprintln(w, "heartbeats: about 2 broadcast periods. The default --wait is 2 × the broadcast period + 1s; a")
	fmt.Fprintln(w, "presence that has not reached this node by then is not listed.")
	fmt.Fprintln(w, "\nEvery node of a tracker must use the same --tracker name and --pool-size, and should use the")
	fmt.Fprintln(w, "same timings: --period is the BroadcastPeriod (default Phoenix's 1.5s, tracker.ProductionConfig);")
	fmt.Fprintln(w, "the other periods derive from it as in tracker.Config.")
	printFlags(w, fs)
	fmt.Fprintln(w, "\nExamples:")
	fmt.Fprintln(w, "  pubsub presence --redis redis://localhost:6379/0 --name chat --tracker presence room:lobby")
	fmt.Fprintln(w, "  pubsub presence --redis redis://localhost:6379/0 --name chat --tracker presence --json room:lobby")
}

// presenceRecord is one presence as "pubsub presence --json" prints it. Meta leaves out phx_ref, which
// has a field of its own.
type presenceRecord struct {
	Key   string         `json:"key"`
	Node  string         `json:"node"`
	Ref   string         `json:"phx_ref"`
	Meta  map[string]any `json:"meta"`
	metaJ string
}

// runPresence is "pubsub presence".
func runPresence(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pubsub presence", flag.ContinueOnError)
	var rf redisFlags
	rf.register(fs, true)
	trackerName := fs.String("tracker", "", "`name` of the tracker (its Config.Name); required")
	poolSize := fs.Int("pool-size", tracker.DefaultPoolSize, "the tracker's PoolSize: the same `count` as on every node")
	period := fs.Duration("period", tracker.DefaultBroadcastPeriod, "the tracker's BroadcastPeriod (heartbeat): the same `period` as on every node")
	wait := fs.Duration("wait", 0, "listen this `long` before listing (default 2 × --period + 1s)")
	jsonOut := fs.Bool("json", false, "print one JSON object per line instead of a table")
	node := fs.String("node", "", "this node's `name` (default \"presence-<random>\")")
	secretEnv := fs.String("secret-env", "", "sign and verify frames with the secret in environment variable `VAR` (pubsub.Config.Secrets)")
	rest, code, ok := parseArgs(fs, args, stdout, stderr, presenceUsage)
	if !ok {
		return code
	}
	target, ok := rf.target(stderr, fs.Name(), true)
	if !ok {
		return exitUsage
	}
	switch {
	case *trackerName == "":
		return usageError(stderr, fs, "--tracker is required (the tracker's Config.Name)")
	case len(rest) == 0:
		return usageError(stderr, fs, "missing TOPIC")
	case len(rest) > 1:
		return usageError(stderr, fs, "too many arguments: want one TOPIC, got %d", len(rest))
	case rest[0] == "":
		return usageError(stderr, fs, "TOPIC is empty")
	case *poolSize < 1 || *poolSize > 1024:
		return usageError(stderr, fs, "-pool-size %d is outside 1..1024", *poolSize)
	case *period <= 0 || *period > time.Minute:
		return usageError(stderr, fs, "-period %v is outside (0, 1m]", *period)
	case *wait < 0 || *wait > 10*time.Minute:
		return usageError(stderr, fs, "-wait %v is outside (0, 10m]", *wait)
	}
	if *wait == 0 {
		*wait = 2**period + time.Second
	}
	cfg := tracker.ProductionConfig(*trackerName, nil)
	cfg.BroadcastPeriod = *period // the derived periods (DownPeriod, PermdownPeriod) follow
	cfg.PoolSize = *poolSize
	topic := rest[0]
	secret, err := secretFromEnv(*secretEnv)
	if err != nil {
		return usageError(stderr, fs, "%v", err)
	}
	if *node == "" {
		*node = "presence-" + randomHex(3)
	}
	if code := target.reach(ctx, stderr, "presence", exitFailure); code != exitOK {
		return code
	}
	ps, _, err := target.startNode(nodeConfig{pubsubName: rf.name, nodeName: *node, prefix: rf.prefix, secret: secret})
	if err != nil {
		if errors.Is(err, pubsub.ErrInvalidConfig) {
			return usageError(stderr, fs, "%v", err)
		}
		fmt.Fprintf(stderr, "pubsub presence: %v\n", err)
		return exitUsage
	}
	defer ps.Close()
	tr, err := tracker.New(ps, cfg)
	if err != nil {
		if errors.Is(err, tracker.ErrInvalidConfig) {
			return usageError(stderr, fs, "%v", err)
		}
		fmt.Fprintf(stderr, "pubsub presence: %v\n", err)
		return exitFailure
	}
	defer tr.Close()

	select {
	case <-time.After(*wait):
	case <-ctx.Done():
	}
	list := tr.List(topic)
	// Leave gracefully, interrupted or not, so that the other nodes forget this one at once.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), permdownTimeout)
	err = tr.GracefulPermdown(pctx)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "pubsub presence: leave: %v\n", err)
	}
	if ctx.Err() != nil {
		return exitFailure
	}
	if err := printPresences(stdout, topic, list, *jsonOut); err != nil {
		fmt.Fprintf(stderr, "pubsub presence: %v\n", err)
		return exitFailure
	}
	if err := ps.Close(); err != nil {
		fmt.Fprintf(stderr, "pubsub presence: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// printPresences prints list as a table or as JSON lines, sorted by key, node and ref.
func printPresences(w io.Writer, topic string, list []tracker.Presence, jsonOut bool) error {
	recs := make([]presenceRecord, 0, len(list))
	for _, p := range list {
		ref := p.Ref
		meta := maps.Clone(p.Meta)
		if meta == nil {
			meta = map[string]any{}
		}
		if p.RefPrev != "" {
			meta[tracker.MetaRefPrev] = p.RefPrev
		}
		mj, err := json.Marshal(meta)
		if err != nil {
			mj = []byte(fmt.Sprintf("%q", fmt.Sprint(meta)))
			meta = map[string]any{"unprintable": fmt.Sprint(meta)}
		}
		recs = append(recs, presenceRecord{Key: p.Key, Node: p.Replica, Ref: ref, Meta: meta, metaJ: string(mj)})
	}
	sort.Slice(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return a.Ref < b.Ref
	})
	if jsonOut {
		enc := json.NewEncoder(w)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(recs) == 0 {
		fmt.Fprintf(w, "No presences in %q.\n", topic)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "KEY\tNODE\tPHX_REF\tMETA")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Key, r.Node, r.Ref, r.metaJ)
	}
	return tw.Flush()
}
