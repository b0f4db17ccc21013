package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub/internal/wire"
)

func nodesUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage:\n  pubsub nodes --redis URL --name NAME [flags]\n  pubsub nodes --redis URL")
	fmt.Fprintln(w, "\nNodes lists the live nodes of the PubSub NAME: each node's name, its incarnation (a random id, new")
	fmt.Fprintln(w, "at every start) and when its liveness probe was last heard. It asks Redis which node channels have")
	fmt.Fprintln(w, "a subscriber (PUBSUB CHANNELS), then listens on them for --wait: every node publishes a probe to")
	fmt.Fprintln(w, "its own channel every ProbeInterval (1s by default). A node whose channel has a subscriber but")
	fmt.Fprintln(w, "that sent no probe is listed with \"no probe heard\" (stuck, or a longer ProbeInterval). Two")
	fmt.Fprintln(w, "incarnations under one name are two live nodes sharing a name.")
	fmt.Fprintln(w, "\nWithout --name it lists the PubSubs that have nodes on this Redis.")
	fmt.Fprintln(w, "On Redis Cluster, PUBSUB CHANNELS only sees the subscriptions of the server it asks.")
	printFlags(w, fs)
	fmt.Fprintln(w, "\nExamples:")
	fmt.Fprintln(w, "  pubsub nodes --redis redis://localhost:6379/0")
	fmt.Fprintln(w, "  pubsub nodes --redis redis://localhost:6379/0 --name chat")
}

// runNodes is "pubsub nodes".
func runNodes(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pubsub nodes", flag.ContinueOnError)
	var rf redisFlags
	rf.register(fs, false)
	fs.StringVar(&rf.name, "name", "", "`name` of the PubSub (its Config.Name); without it, list the PubSubs")
	wait := fs.Duration("wait", 2500*time.Millisecond, "listen for probes this `long`: at least 2 probe intervals")
	jsonOut := fs.Bool("json", false, "print one JSON object per line instead of a table")
	rest, code, ok := parseArgs(fs, args, stdout, stderr, nodesUsage)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return usageError(stderr, fs, "unexpected argument %q", rest[0])
	}
	if *wait <= 0 || *wait > 10*time.Minute {
		return usageError(stderr, fs, "-wait %v is outside (0, 10m]", *wait)
	}
	target, ok := rf.target(stderr, fs.Name(), false)
	if !ok {
		return exitUsage
	}
	rdb := target.client()
	defer rdb.Close()
	if code := target.reach(ctx, stderr, "nodes", exitFailure); code != exitOK {
		return code
	}
	var err error
	if rf.name == "" {
		err = listPubSubs(ctx, rdb, rf.prefix, *jsonOut, stdout)
	} else {
		err = listNodes(ctx, rdb, newChannelNames(rf.prefix, rf.name), *wait, *jsonOut, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pubsub nodes: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// heard is one incarnation of a node, from its probes.
type heard struct {
	node        string
	incarnation [16]byte
	last        time.Time
}

// listNodes prints the nodes of one PubSub, from their channels and probes.
func listNodes(ctx context.Context, rdb *redis.Client, ch channelNames, wait time.Duration, jsonOut bool, w io.Writer) error {
	nodes, err := liveNodes(ctx, rdb, ch)
	if err != nil {
		return err
	}
	var probes []heard
	if len(nodes) > 0 {
		if probes, err = listenForProbes(ctx, rdb, ch, nodes, wait); err != nil {
			return err
		}
	}
	now := time.Now()
	byNode := make(map[string][]heard)
	for _, h := range probes {
		byNode[h.node] = append(byNode[h.node], h)
	}

	if jsonOut {
		type record struct {
			Node        string   `json:"node"`
			Incarnation *string  `json:"incarnation"`
			LastHeard   *string  `json:"last_heard"`
			AgoSeconds  *float64 `json:"ago_seconds"`
		}
		enc := json.NewEncoder(w)
		for _, node := range nodes {
			hs := byNode[node]
			if len(hs) == 0 {
				if err := enc.Encode(record{Node: node}); err != nil {
					return err
				}
				continue
			}
			for _, h := range hs {
				inc, last := hex.EncodeToString(h.incarnation[:]), h.last.UTC().Format(time.RFC3339Nano)
				ago := now.Sub(h.last).Seconds()
				if err := enc.Encode(record{Node: node, Incarnation: &inc, LastHeard: &last, AgoSeconds: &ago}); err != nil {
					return err
				}
			}
		}
		return nil
	}

	if len(nodes) == 0 {
		fmt.Fprintf(w, "No live nodes: no channel %s* has a subscriber.\n", ch.nodePrefix())
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "NODE\tINCARNATION\tLAST HEARD")
	var shared []string
	for _, node := range nodes {
		hs := byNode[node]
		if len(hs) == 0 {
			fmt.Fprintf(tw, "%s\t-\tno probe heard\n", node)
			continue
		}
		if len(hs) > 1 {
			shared = append(shared, node)
		}
		for _, h := range hs {
			fmt.Fprintf(tw, "%s\t%x\t%.1fs ago\n", node, h.incarnation, now.Sub(h.last).Seconds())
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, node := range shared {
		fmt.Fprintf(w, "Warning: %d live nodes share the name %q: direct broadcasts to it reach all of them.\n", len(byNode[node]), node)
	}
	return nil
}

// listenForProbes subscribes to the channels of nodes for wait and returns every incarnation heard
// probing on its own node's channel, sorted by node and then by most recently heard.
func listenForProbes(ctx context.Context, rdb *redis.Client, ch channelNames, nodes []string, wait time.Duration) ([]heard, error) {
	channels := make([]string, len(nodes))
	for i, n := range nodes {
		channels[i] = ch.node(n)
	}
	var mu sync.Mutex
	sub := rdb.Subscribe(ctx)
	closed := false
	closeSub := func() {
		mu.Lock()
		defer mu.Unlock()
		if !closed {
			closed = true
			sub.Close()
		}
	}
	stop := context.AfterFunc(ctx, closeSub) // interrupts a receive in progress
	defer func() {
		stop()
		closeSub()
	}()
	if err := sub.Subscribe(ctx, channels...); err != nil {
		return nil, fmt.Errorf("subscribe to the node channels: %w", err)
	}

	found := make(map[string]map[[16]byte]time.Time)
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		msg, err := sub.ReceiveTimeout(ctx, left)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				break // the read timed out at the deadline
			}
			return nil, fmt.Errorf("listen for probes: %w", err)
		}
		m, ok := msg.(*redis.Message)
		if !ok {
			continue
		}
		node, ok := strings.CutPrefix(m.Channel, ch.nodePrefix())
		if !ok {
			continue
		}
		f, err := wire.Decode(m.Payload, wire.Limits{})
		if err != nil || f.Kind != wire.KindProbe || f.Origin != node {
			continue // a direct broadcast, or something that is not a probe of this node
		}
		if found[node] == nil {
			found[node] = make(map[[16]byte]time.Time)
		}
		found[node][f.Incarnation] = time.Now()
	}
	var out []heard
	for node, incs := range found {
		for inc, last := range incs {
			out = append(out, heard{node: node, incarnation: inc, last: last})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.node != b.node {
			return a.node < b.node
		}
		if !a.last.Equal(b.last) {
			return a.last.After(b.last)
		}
		return bytes.Compare(a.incarnation[:], b.incarnation[:]) < 0
	})
	return out, nil
}

// listPubSubs prints the PubSubs that have subscribers on this Redis: their names, their live nodes
// (node channels with a subscriber) and the subscribers of their broadcast channel (nodes and tails).
func listPubSubs(ctx context.Context, rdb *redis.Client, prefix string, jsonOut bool, w io.Writer) error {
	start := globEscape(prefix + ":{")
	const end = "}:broadcast"
	channels, err := rdb.PubSubChannels(ctx, start+"*"+end).Result()
	if err != nil {
		return fmt.Errorf("PUBSUB CHANNELS: %w", err)
	}
	type row struct {
		PubSub    string `json:"pubsub"`
		Nodes     int    `json:"nodes"`
		Listeners int64  `json:"broadcast_subscribers"`
	}
	var rows []row
	for _, c := range channels {
		name, ok := strings.CutPrefix(c, prefix+":{")
		if !ok {
			continue
		}
		if name, ok = strings.CutSuffix(name, end); !ok {
			continue
		}
		nodes, err := liveNodes(ctx, rdb, newChannelNames(prefix, name))
		if err != nil {
			return err
		}
		counts, err := rdb.PubSubNumSub(ctx, c).Result()
		if err != nil {
			return fmt.Errorf("PUBSUB NUMSUB: %w", err)
		}
		rows = append(rows, row{PubSub: name, Nodes: len(nodes), Listeners: counts[c]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].PubSub < rows[j].PubSub })
	if jsonOut {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(rows) == 0 {
		fmt.Fprintf(w, "No PubSub has subscribers on this Redis (no channel %s:{…}:broadcast).\n", prefix)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "PUBSUB\tNODES\tBROADCAST SUBSCRIBERS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", r.PubSub, r.Nodes, r.Listeners)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "Run 'pubsub nodes --name PUBSUB' for a PubSub's nodes.")
	return nil
}
