package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/fastlane"
	"github.com/phxgo/pubsub/tracker"
)

// demoWait bounds every wait of the demo, so that it always ends by itself. Deliveries take
// milliseconds; the bound only matters when something is broken (or the machine is very busy).
const demoWait = 5 * time.Second

// demoNodeNames are the demo's nodes, in the order they are narrated.
var demoNodeNames = []string{"node-a", "node-b", "node-c"}

// syncTopic carries the demo's own barrier broadcasts (see demo.sync); it is never narrated.
const syncTopic = "demo:sync"

func demoUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage:\n  pubsub demo [flags]")
	fmt.Fprintln(w, "\nDemo starts three nodes of one PubSub in this process (node-a, node-b, node-c), each with its own")
	fmt.Fprintln(w, "Redis adapter, and narrates what happens: broadcasts crossing nodes, a broadcast from a sender, a")
	fmt.Fprintln(w, "direct broadcast to one node, the fastlane dispatcher, a slow consumer, presences replicated by a")
	fmt.Fprintln(w, "tracker on every node (joins, an update), then a node crashing and a node leaving gracefully while")
	fmt.Fprintln(w, "the others keep working. Without --redis it runs on an embedded Redis (miniredis), so it needs")
	fmt.Fprintln(w, "nothing installed. It ends by itself within seconds.")
	fmt.Fprintln(w, "\nWith --web it serves a chat room instead, until interrupted: two or three nodes (--nodes), each")
	fmt.Fprintln(w, "with a web server (the first on --listen, the others on the next ports). Open a page on each node")
	fmt.Fprintln(w, "in a browser: each page joins over a WebSocket to its node, and messages and who is online (on")
	fmt.Fprintln(w, "which node) appear live on every page, through Redis, the fastlane and package presence.")
	printFlags(w, fs)
	fmt.Fprintln(w, "\nExamples:\n  pubsub demo\n  pubsub demo --redis redis://localhost:6379/0\n  pubsub demo --web\n  pubsub demo --web --nodes 2 --listen 127.0.0.1:8080")
}

// runDemo is "pubsub demo".
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pubsub demo", flag.ContinueOnError)
	redisURL := fs.String("redis", "", "run against the Redis at `URL` instead of an embedded one")
	name := fs.String("name", "", "`name` of the PubSub (default \"demo\", or \"demo-<random>\" with --redis)")
	sockets := fs.Int("sockets", 2, "`count` of fastlane sockets on each of node-b and node-c (1 to 100)")
	mailbox := fs.Int("mailbox", 2, "mailbox `size` of the slow consumer (1 to 100)")
	web := fs.Bool("web", false, "serve a chat room with live presence to browsers, until interrupted")
	listen := fs.String("listen", "127.0.0.1:4000", "with --web: `host:port` of the first node's web server; the others take the next ports (port 0: any free port)")
	webNodes := fs.Int("nodes", 3, "with --web: `count` of nodes (2 or 3)")
	if code, ok := parseFlags(fs, args, stdout, stderr, demoUsage); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case fs.NArg() > 0:
		return usageError(stderr, fs, "unexpected argument %q", fs.Arg(0))
	case *web && (set["sockets"] || set["mailbox"]):
		return usageError(stderr, fs, "--sockets and --mailbox do not apply to --web")
	case !*web && (set["listen"] || set["nodes"]):
		return usageError(stderr, fs, "--listen and --nodes apply only to --web")
	case *webNodes < 2 || *webNodes > len(demoNodeNames):
		return usageError(stderr, fs, "--nodes %d is outside 2..%d", *webNodes, len(demoNodeNames))
	case *sockets < 1 || *sockets > 100:
		return usageError(stderr, fs, "-sockets %d is outside 1..100", *sockets)
	case *mailbox < 1 || *mailbox > 100:
		return usageError(stderr, fs, "-mailbox %d is outside 1..100", *mailbox)
	}
	d := &demo{out: stdout, sockets: *sockets, mailbox: *mailbox, name: *name}
	if *redisURL != "" {
		t, err := parseRedisURL(*redisURL)
		if err != nil {
			return usageError(stderr, fs, "%v", err)
		}
		if err := t.checkReachable(ctx); err != nil {
			fmt.Fprintf(stderr, "pubsub demo: %v\n", err)
			if errors.Is(err, errUnreachable) {
				return exitUsage
			}
			return exitFailure
		}
		d.target = t
		if d.name == "" { // a name of its own, so that demos sharing a Redis never meet
			d.name = "demo-" + randomHex(3)
		}
	}
	if d.name == "" {
		d.name = "demo"
	}
	if *web {
		if _, err := webListenAddr(*listen, *webNodes-1); err != nil {
			return usageError(stderr, fs, "%v", err)
		}
		w := &webDemo{out: stdout, logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), name: d.name, target: d.target, listen: *listen, nodes: *webNodes}
		return demoExit(stderr, w.run(ctx))
	}
	return demoExit(stderr, d.run(ctx))
}

// demoExit reports err and returns the demo's exit status.
func demoExit(stderr io.Writer, err error) int {
	if err != nil {
		fmt.Fprintf(stderr, "pubsub demo: %v\n", err)
		if errors.Is(err, errJoin) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// errJoin marks a node that could not join the PubSub: the demo did not start (exit status 2).
var errJoin = errors.New("cannot start")

// demo narrates three nodes of one PubSub, step by step. Every line it prints about a delivery is
// printed after the delivery happened (it waits for each in turn), so the output is the same at every
// run, whatever the order in which the nodes received.
type demo struct {
	out     io.Writer
	sockets int
	mailbox int
	name    string
	target  *redisTarget // nil: the embedded Redis

	rdb      *redis.Client // a plain client, for PUBSUB CHANNELS
	channels channelNames
	nodes    []*demoNode
	subs     map[string]*demoSub
	refs     map[string]string // phx_ref of each presence the demo tracks
	syncSeq  int
}

// demoNode is one node of the demo's PubSub.
type demoNode struct {
	name     string
	ps       *pubsub.PubSub
	fastlane *fastlane.Dispatcher
	reports  chan pubsub.SlowConsumer
	sync     *pubsub.Subscriber // receives syncTopic
	left     bool
	tracker  *tracker.Tracker // demoTracker, with tracker.TestConfig's timings
	diffs    *diffLog         // what the tracker's handler received
}

// demoTracker is the name of the demo's trackers, one on every node.
const demoTracker = "presence"

// diffLog records the joins and leaves a tracker's handler receives, as "+key" and "-key" per topic.
type diffLog struct {
	mu     sync.Mutex
	events map[string][]string
}

func (l *diffLog) HandleDiff(diff map[string]tracker.Diff) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.events == nil {
		l.events = make(map[string][]string)
	}
	for topic, d := range diff {
		for _, p := range d.Leaves {
			l.events[topic] = append(l.events[topic], "-"+p.Key)
		}
		for _, p := range d.Joins {
			l.events[topic] = append(l.events[topic], "+"+p.Key)
		}
	}
}

// has reports whether the handler received every one of want in topic since the last reset (each
// counted as often as it is given).
func (l *diffLog) has(topic string, want ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := make(map[string]int)
	for _, e := range l.events[topic] {
		got[e]++
	}
	for _, w := range want {
		if got[w]--; got[w] < 0 {
			return false
		}
	}
	return true
}

// reset forgets what the handler received so far.
func (l *diffLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.events)
}

// demoSub is a named subscriber on one node.
type demoSub struct {
	name string
	node *demoNode
	*pubsub.Subscriber
}

func (s *demoSub) String() string { return s.name + " on " + s.node.name }

// score is the payload of the fastlane step: its JSON is what the sockets receive. It is registered
// with pubsub.RegisterType, so that it arrives on every node as a score.
type score struct {
	Player string `json:"player"`
	Points int    `json:"points"`
}

// scoreTypeName is score's name on the wire.
const scoreTypeName = "pubsub-demo.score"

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := pubsub.RegisterType[score](scoreTypeName); err != nil {
		return err
	}
	var mini *miniredis.Miniredis
	if d.target == nil {
		mini = miniredis.NewMiniRedis()
		if err := mini.Start(); err != nil {
			return fmt.Errorf("%w: embedded Redis: %v", errJoin, err)
		}
		defer mini.Close() // deferred first: runs after the nodes have closed
		t, err := parseRedisURL("redis://" + mini.Addr() + "/0")
		if err != nil {
			return err
		}
		d.target = t
		d.say("Redis: embedded (miniredis, in this process)")
	} else {
		d.say("Redis: %s", d.target.addr())
	}
	d.rdb = d.target.client()
	defer d.rdb.Close()
	d.channels = newChannelNames("", d.name)
	defer d.closeNodes()
	for _, name := range demoNodeNames {
		if err := d.startNode(name); err != nil {
			return fmt.Errorf("%w: %v", errJoin, err)
		}
	}
	d.say("PubSub %q: %s joined, each with its own Redis adapter", d.name, andList(demoNodeNames))

	steps := []struct {
		title string
		run   func(context.Context) error
	}{
		{`Subscribers on every node join "room:lobby"`, d.join},
		{"Broadcast: every subscriber on every node receives it", d.broadcast},
		{"Broadcast from a sender: the sender is skipped", d.broadcastFrom},
		{"Direct broadcast: only the subscribers on one node receive it", d.direct},
		{"Custom dispatcher: the fastlane encodes once per node and writes to every socket", d.fastlaneStep},
		{"Slow consumer: a broadcaster never waits for a subscriber", d.slowConsumer},
		{fmt.Sprintf(`Presence: a tracker %q on every node replicates who is in "room:lobby"`, demoTracker), d.presenceJoin},
		{"Presence update: carol's status changes on node-c, and every node sees it", d.presenceUpdate},
		{"A node crashes: node-c stops without a word, the others keep working", d.leave},
		{"A node leaves gracefully: node-b says goodbye, its presences leave at once", d.leaveGracefully},
	}
	for i, step := range steps {
		if err := ctx.Err(); err != nil { // interrupted
			return err
		}
		d.say("\n%d. %s", i+1, step.title)
		if err := step.run(ctx); err != nil {
			return err
		}
	}

	var open []string
	for _, n := range d.nodes {
		if !n.left {
			open = append(open, n.name)
		}
	}
	if err := d.closeNodes(); err != nil {
		return err
	}
	d.say("\n%s closed: every subscriber closed, every goroutine stopped.", andList(open))
	if mini != nil {
		mini.Close()
		d.say("Embedded Redis stopped. Done.")
	} else {
		d.say("Done. (Redis keeps nothing of a PubSub once its nodes have gone.)")
	}
	return nil
}

// startNode starts one node of the demo's PubSub.
func (d *demo) startNode(name string) error {
	n := &demoNode{name: name, fastlane: &fastlane.Dispatcher{}, reports: make(chan pubsub.SlowConsumer, 16)}
	ps, _, err := d.target.startNode(nodeConfig{
		pubsubName: d.name,
		nodeName:   name,
		pubsub: pubsub.Config{
			Dispatchers: map[string]pubsub.Dispatcher{fastlane.Name: n.fastlane},
			OnSlowConsumer: func(e pubsub.SlowConsumer) {
				select {
				case n.reports <- e:
				default: // never block the reporter; the demo checks there is only one
				}
			},
		},
	})
	if err != nil {
		return err
	}
	n.ps = ps
	d.nodes = append(d.nodes, n)
	n.diffs = &diffLog{}
	if n.tracker, err = tracker.New(ps, tracker.TestConfig(demoTracker, n.diffs)); err != nil {
		return err
	}
	if n.sync, err = ps.NewSubscriber(); err != nil {
		return err
	}
	return n.sync.Subscribe(syncTopic)
}

// closeNodes closes every node still open, and returns the first error.
func (d *demo) closeNodes() error {
	var first error
	for _, n := range d.nodes {
		if n.left {
			continue
		}
		n.left = true
		if n.tracker != nil {
			n.tracker.Close()
		}
		if err := n.ps.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (d *demo) node(name string) *demoNode {
	for _, n := range d.nodes {
		if n.name == name {
			return n
		}
	}
	panic("demo: no node " + name)
}

// subscribe makes a subscriber called name on node and subscribes it to topic.
func (d *demo) subscribe(name string, node *demoNode, topic string, opts ...pubsub.SubscribeOption) (*demoSub, error) {
	sub, err := node.ps.NewSubscriber()
	if err != nil {
		return nil, err
	}
	s := &demoSub{name: name, node: node, Subscriber: sub}
	if err := s.Subscribe(topic, opts...); err != nil {
		return nil, err
	}
	return s, nil
}

// join subscribes alice, bob and carol to room:lobby, one on each node.
func (d *demo) join(context.Context) error {
	d.subs = make(map[string]*demoSub)
	for i, name := range []string{"alice", "bob", "carol"} {
		s, err := d.subscribe(name, d.nodes[i], "room:lobby")
		if err != nil {
			return err
		}
		d.subs[name] = s
		d.say("   %s joined %q on %s", name, "room:lobby", s.node.name)
	}
	return nil
}

// broadcast sends from node-a; the subscribers on every node receive it.
func (d *demo) broadcast(ctx context.Context) error {
	const text = "hello, everyone"
	if err := d.node("node-a").ps.Broadcast(ctx, "room:lobby", text); err != nil {
		return err
	}
	d.say("   node-a broadcast to %q: %q", "room:lobby", text)
	return d.expectAll(ctx, "alice", "bob", "carol")
}

// broadcastFrom sends from bob: alice and carol receive it, bob does not.
func (d *demo) broadcastFrom(ctx context.Context) error {
	const text = "hi, it's bob"
	bob := d.subs["bob"]
	if err := bob.node.ps.BroadcastFrom(ctx, bob.Subscriber, "room:lobby", text); err != nil {
		return err
	}
	d.say("   bob on %s broadcast_from to %q: %q", bob.node.name, "room:lobby", text)
	if err := d.expectAll(ctx, "alice", "carol"); err != nil {
		return err
	}
	if err := d.sync(ctx, bob.node); err != nil {
		return err
	}
	if msg, ok := pending(bob.Subscriber); ok {
		return fmt.Errorf("bob received his own message %v", msg.Payload)
	}
	d.say("   bob received nothing (he sent it)")
	return nil
}

// direct sends from node-a to node-c only: carol receives it, alice and bob do not.
func (d *demo) direct(ctx context.Context) error {
	const text = "psst, node-c"
	a := d.node("node-a")
	if err := a.ps.DirectBroadcast(ctx, "node-c", "room:lobby", text); err != nil {
		return err
	}
	d.say("   node-a direct_broadcast to node-c on %q: %q", "room:lobby", text)
	if err := d.expectAll(ctx, "carol"); err != nil {
		return err
	}
	if err := d.sync(ctx, a); err != nil { // whatever node-a sent before has reached every node
		return err
	}
	for _, name := range []string{"alice", "bob"} {
		if msg, ok := pending(d.subs[name].Subscriber); ok {
			return fmt.Errorf("%s received the direct broadcast to node-c: %v", name, msg.Payload)
		}
	}
	d.say("   alice and bob received nothing (their nodes were not addressed)")
	return nil
}

// fastlaneStep shows a custom dispatcher reading subscription metadata on every node: each node
// encodes the broadcast once and writes the frame to its sockets; a subscriber without a socket gets
// the message in its mailbox.
func (d *demo) fastlaneStep(ctx context.Context) error {
	type socket struct {
		node *demoNode
		n    int
		w    *fastlane.ChanWriter
	}
	var sockets []socket
	for _, node := range []*demoNode{d.node("node-b"), d.node("node-c")} {
		for i := range d.sockets {
			w := fastlane.NewChanWriter(4)
			s, err := d.subscribe(fmt.Sprintf("socket %d", i+1), node, "room:game", fastlane.WithWriter(w))
			if err != nil {
				return err
			}
			defer s.Close()
			sockets = append(sockets, socket{node: node, n: i + 1, w: w})
		}
	}
	d.say("   %s on node-b and %d on node-c joined %q with fastlane metadata", plural(uint64(d.sockets), "socket"), d.sockets, "room:game")
	dave, err := d.subscribe("dave", d.node("node-c"), "room:game")
	if err != nil {
		return err
	}
	defer dave.Close()
	d.say("   dave joined %q on node-c without metadata", "room:game")

	payload := score{Player: "alice", Points: 10}
	if err := d.node("node-a").ps.Broadcast(ctx, "room:game", payload, pubsub.WithDispatcher(fastlane.Name)); err != nil {
		return err
	}
	d.say("   node-a broadcast to %q through dispatcher %q: %+v", "room:game", fastlane.Name, payload)
	for _, s := range sockets {
		select {
		case frame := <-s.w.C():
			d.say("   %s socket %d wrote %s", s.node.name, s.n, frame)
		case <-time.After(demoWait):
			return fmt.Errorf("%s socket %d: no frame after %v", s.node.name, s.n, demoWait)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	msg, err := d.receive(ctx, dave)
	if err != nil {
		return err
	}
	d.say("   dave on node-c received %+v in his mailbox, as a %T (registered with pubsub.RegisterType)", msg.Payload, msg.Payload)
	// The dispatcher adds to its counters once it has written to every socket: wait until each node's
	// receive loop has moved on to the next frame.
	if err := d.sync(ctx, d.node("node-a")); err != nil {
		return err
	}
	var counts []string
	for _, node := range []*demoNode{d.node("node-b"), d.node("node-c")} {
		st := node.fastlane.Stats()
		counts = append(counts, fmt.Sprintf("%s encoded %s, written to %s", node.name, plural(st.Encodes, "time"), plural(st.Writes, "socket")))
	}
	d.say("   %s", strings.Join(counts, "; "))
	return nil
}

// slowConsumer shows a subscriber on node-b that does not read: its small mailbox fills, node-b drops
// and counts, and reports the slow consumer once; node-a, the broadcaster, never waits.
func (d *demo) slowConsumer(ctx context.Context) error {
	a, b := d.node("node-a"), d.node("node-b")
	sub, err := b.ps.NewSubscriber(pubsub.WithMailboxSize(d.mailbox))
	if err != nil {
		return err
	}
	erin := &demoSub{name: "erin", node: b, Subscriber: sub}
	defer erin.Close()
	if err := erin.Subscribe("ticks"); err != nil {
		return err
	}
	d.say("   erin joined %q on node-b with a mailbox of %d and does not read", "ticks", d.mailbox)
	n := d.mailbox + 3
	for i := range n {
		if err := a.ps.Broadcast(ctx, "ticks", i); err != nil {
			return err
		}
	}
	d.say("   node-a broadcast %d messages to %q", n, "ticks")
	if err := d.sync(ctx, a); err != nil { // every tick has reached node-b
		return err
	}
	d.say("   erin's mailbox holds %d; %d dropped", erin.Len(), erin.Dropped())

	select {
	case e := <-b.reports:
		d.say("   node-b reported a slow consumer: subscriber %d, mailbox size %d", e.SubscriberID, e.MailboxSize)
	case <-time.After(demoWait):
		return errors.New("no slow-consumer report")
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, ok := erin.TryReceive(); ok; _, ok = erin.TryReceive() { // erin catches up: the episode is over
	}
	if err := a.ps.Broadcast(ctx, "ticks", n); err != nil {
		return err
	}
	msg, err := d.receive(ctx, erin)
	if err != nil {
		return err
	}
	var tick int // from another node, an int arrives encoded: Decode turns it back into an int
	if err := msg.Decode(&tick); err != nil || tick != n {
		return fmt.Errorf("erin caught up but received %v (%v), not tick %d", msg.Payload, err, n)
	}
	d.say("   erin caught up and received tick %d; still %d dropped, reported once", tick, erin.Dropped())
	if len(b.reports) != 0 {
		return fmt.Errorf("%d more slow-consumer reports, want one per episode", len(b.reports))
	}
	return nil
}

// presenceJoin tracks alice, bob and carol in room:lobby, each on the node of her or his subscriber
// (the owner: the presence ends when it closes), and waits until every node lists all three.
func (d *demo) presenceJoin(ctx context.Context) error {
	for _, n := range d.openNodes() {
		n.diffs.reset()
	}
	d.refs = make(map[string]string)
	for _, name := range []string{"alice", "bob", "carol"} {
		s := d.subs[name]
		ref, err := s.node.tracker.Track(s.Subscriber, "room:lobby", name, map[string]any{"status": "online"})
		if err != nil {
			return fmt.Errorf("%s: track: %w", s, err)
		}
		d.refs[name] = ref
		d.say(`   %s tracks %s in %q with {"status":"online"}, owned by %s's subscriber`, s.node.name, name, "room:lobby", name)
	}
	const want = "alice (on node-a), bob (on node-b) and carol (on node-c)"
	for _, n := range d.openNodes() {
		if _, err := d.waitPresences(ctx, n, want, func(l []tracker.Presence) bool { return listing(l) == want }, "+alice", "+bob", "+carol"); err != nil {
			return err
		}
		d.say("   %s lists %s; its handler saw the three join", n.name, want)
	}
	return nil
}

// presenceUpdate changes carol's status on node-c and waits until every node lists the new meta, with
// phx_ref_prev naming the ref it replaced.
func (d *demo) presenceUpdate(ctx context.Context) error {
	carol := d.subs["carol"]
	for _, n := range d.openNodes() {
		n.diffs.reset()
	}
	prev := d.refs["carol"]
	ref, err := carol.node.tracker.Update(carol.Subscriber, "room:lobby", "carol", map[string]any{"status": "away"})
	if err != nil {
		return fmt.Errorf("%s: update: %w", carol, err)
	}
	d.refs["carol"] = ref
	d.say(`   node-c updates carol's meta to {"status":"away"}: a new phx_ref, and phx_ref_prev names the old one`)
	for _, n := range d.openNodes() {
		l, err := d.waitPresences(ctx, n, `carol with {"status":"away"} and phx_ref_prev = her first phx_ref`, func(l []tracker.Presence) bool {
			for _, p := range l {
				if p.Key == "carol" {
					return p.Ref == ref && p.RefPrev == prev && p.Meta["status"] == "away"
				}
			}
			return false
		}, "-carol", "+carol")
		if err != nil {
			return err
		}
		for _, p := range l {
			if p.Key == "carol" {
				d.say("   %s lists carol with %s, phx_ref_prev = her first phx_ref; its handler saw carol leave (online) and join (away)", n.name, shownMeta(p.Meta))
			}
		}
	}
	return nil
}

// leave crashes node-c: its tracker and PubSub close without a word. Its subscribers are closed, its
// channel disappears from Redis, node-a and node-b keep working, and they list carol until node-c has
// been silent for the tracker's DownPeriod.
func (d *demo) leave(ctx context.Context) error {
	c := d.node("node-c")
	for _, n := range d.openNodes() {
		n.diffs.reset()
	}
	c.left = true
	c.tracker.Close() // a crash: nothing announced (GracefulPermdown would announce the leave)
	crashed := time.Now()
	if err := c.ps.Close(); err != nil {
		return err
	}
	carol := d.subs["carol"]
	if err := waitClosed(ctx, carol.Subscriber); err != nil {
		return fmt.Errorf("carol: %w", err)
	}
	d.say("   node-c crashed (tracker and PubSub closed, no GracefulPermdown): carol's mailbox is closed and node-c unsubscribed from Redis")

	// A crash is only noticed by silence: 200 ms later (half the DownPeriod), carol is still listed.
	select {
	case <-time.After(time.Until(crashed.Add(200 * time.Millisecond))):
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, n := range d.openNodes() {
		if !strings.Contains(listing(n.tracker.List("room:lobby")), "carol (on node-c)") {
			return fmt.Errorf("%s no longer lists carol 200 ms after node-c crashed, before the down period", n.name)
		}
	}
	d.say("   200 ms later, node-a and node-b still list carol: a crash announces nothing")
	const want = "alice (on node-a) and bob (on node-b)"
	for _, n := range d.openNodes() {
		if _, err := d.waitPresences(ctx, n, want, func(l []tracker.Presence) bool { return listing(l) == want }, "-carol"); err != nil {
			return err
		}
	}
	d.say("   after the down period (%v of silence from node-c), node-a and node-b list only %s; their handlers saw carol leave",
		tracker.TestConfig(demoTracker, nil).DownPeriod, want)

	if nodes, err := d.waitLiveNodes(ctx, "node-a", "node-b"); err == nil {
		d.say("   live nodes on Redis, as 'pubsub nodes' finds them: %s", andList(nodes))
	} else if ctx.Err() == nil { // an ACL may forbid PUBSUB CHANNELS: the rest works without it
		d.say("   live nodes on Redis: cannot list them (%v)", err)
	}

	const text = "still here?"
	a := d.node("node-a")
	if err := a.ps.Broadcast(ctx, "room:lobby", text); err != nil {
		return err
	}
	d.say("   node-a broadcast to %q: %q", "room:lobby", text)
	if err := d.expectAll(ctx, "alice", "bob"); err != nil {
		return err
	}
	if err := a.ps.DirectBroadcast(ctx, "node-c", "room:lobby", "anyone?"); err != nil {
		return err
	}
	d.say("   node-a direct_broadcast to node-c: no error, and no one receives it (as in Phoenix)")
	return nil
}

// leaveGracefully closes node-b after its tracker has announced that it is gone for good: node-a drops
// bob's presence at once, without waiting for the down period.
func (d *demo) leaveGracefully(ctx context.Context) error {
	b := d.node("node-b")
	for _, n := range d.openNodes() {
		n.diffs.reset()
	}
	b.left = true
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, demoWait)
	err := b.tracker.GracefulPermdown(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("node-b: graceful permdown: %w", err)
	}
	if err := b.ps.Close(); err != nil {
		return err
	}
	if err := waitClosed(ctx, d.subs["bob"].Subscriber); err != nil {
		return fmt.Errorf("bob: %w", err)
	}
	d.say("   node-b's tracker announced its leave (GracefulPermdown), then node-b closed: bob's mailbox is closed")
	a := d.node("node-a")
	const want = "alice (on node-a)"
	if _, err := d.waitPresences(ctx, a, want, func(l []tracker.Presence) bool { return listing(l) == want }, "-bob"); err != nil {
		return err
	}
	if took, down := time.Since(start), tracker.TestConfig(demoTracker, nil).DownPeriod; took < down {
		d.say("   node-a lists only %s at once, with no down period to wait for; its handler saw bob leave", want)
	} else {
		d.say("   node-a lists only %s, after %v (the permdown announcement was late)", want, took.Round(time.Millisecond))
	}

	if nodes, err := d.waitLiveNodes(ctx, "node-a"); err == nil {
		d.say("   live nodes on Redis: %s", andList(nodes))
	} else if ctx.Err() == nil {
		d.say("   live nodes on Redis: cannot list them (%v)", err)
	}
	const text = "just us?"
	if err := a.ps.Broadcast(ctx, "room:lobby", text); err != nil {
		return err
	}
	d.say("   node-a broadcast to %q: %q", "room:lobby", text)
	return d.expectAll(ctx, "alice")
}

// openNodes returns the nodes that have not left, in order.
func (d *demo) openNodes() []*demoNode {
	var open []*demoNode
	for _, n := range d.nodes {
		if !n.left {
			open = append(open, n)
		}
	}
	return open
}

// waitPresences polls n's List of room:lobby until ok accepts it and n's handler has received the
// diffs events ("+key", "-key"), for at most demoWait; what describes the state awaited, for the error.
func (d *demo) waitPresences(ctx context.Context, n *demoNode, what string, ok func([]tracker.Presence) bool, diffs ...string) ([]tracker.Presence, error) {
	deadline := time.Now().Add(demoWait)
	for {
		l := n.tracker.List("room:lobby")
		if ok(l) && n.diffs.has("room:lobby", diffs...) {
			return l, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: presences in %q are not %s after %v (it lists %s)", n.name, "room:lobby", what, demoWait, listing(l))
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// listing returns "alice (on node-a), bob (on node-b) and …", sorted.
func listing(l []tracker.Presence) string {
	items := make([]string, len(l))
	for i, p := range l {
		items[i] = fmt.Sprintf("%s (on %s)", p.Key, p.Replica)
	}
	sort.Strings(items)
	return andList(items)
}

// shownMeta returns a presence's meta as compact JSON (its refs, random at every run, are not in it).
func shownMeta(meta map[string]any) string {
	b, err := json.Marshal(meta)
	if err != nil {
		return fmt.Sprint(meta)
	}
	return string(b)
}

// waitLiveNodes polls PUBSUB CHANNELS until the live nodes are want (node channels disappear once
// Redis has processed the unsubscription).
func (d *demo) waitLiveNodes(ctx context.Context, want ...string) ([]string, error) {
	deadline := time.Now().Add(demoWait)
	for {
		nodes, err := liveNodes(ctx, d.rdb, d.channels)
		if err != nil {
			return nil, err
		}
		if strings.Join(nodes, ",") == strings.Join(want, ",") || time.Now().After(deadline) {
			return nodes, nil
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// sync broadcasts a token from node and waits until every open node has received it. Frames of one
// node reach every other node in the order they were sent, on every channel, so afterwards whatever
// node sent before has been delivered everywhere: the demo can say who received nothing.
func (d *demo) sync(ctx context.Context, from *demoNode) error {
	d.syncSeq++
	if err := from.ps.Broadcast(ctx, syncTopic, d.syncSeq); err != nil {
		return err
	}
	for _, n := range d.nodes {
		if n.left {
			continue
		}
		for {
			msg, err := d.receive(ctx, &demoSub{name: "sync", node: n, Subscriber: n.sync})
			if err != nil {
				return err
			}
			var seq int
			if err := msg.Decode(&seq); err != nil {
				return fmt.Errorf("sync on %s: %w", n.name, err)
			}
			if seq == d.syncSeq {
				break
			}
		}
	}
	return nil
}

// expectAll narrates each named subscriber receiving one message, in the order given.
func (d *demo) expectAll(ctx context.Context, names ...string) error {
	for _, name := range names {
		s := d.subs[name]
		msg, err := d.receive(ctx, s)
		if err != nil {
			return err
		}
		switch p := msg.Payload.(type) {
		case string:
			d.say("   %s received %q", s, p)
		default:
			d.say("   %s received %+v", s, p)
		}
	}
	return nil
}

// receive waits up to demoWait for a message to s.
func (d *demo) receive(ctx context.Context, s *demoSub) (pubsub.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	msg, err := s.Receive(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("nothing received within %v", demoWait)
		}
		return pubsub.Message{}, fmt.Errorf("%s: %w", s, err)
	}
	return msg, nil
}

// waitClosed waits until s's mailbox is closed, discarding what it still holds.
func waitClosed(ctx context.Context, s *pubsub.Subscriber) error {
	timeout := time.After(demoWait)
	for {
		select {
		case _, ok := <-s.C():
			if !ok {
				return nil
			}
		case <-timeout:
			return errors.New("mailbox still open")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pending returns a message already in s's mailbox, without waiting.
func pending(s *pubsub.Subscriber) (pubsub.Message, bool) {
	select {
	case msg := <-s.C():
		return msg, true
	default:
		return pubsub.Message{}, false
	}
}

// andList returns "a", "a and b", "a, b and c".
func andList(items []string) string {
	switch len(items) {
	case 0:
		return "none"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// plural returns "once", or n followed by noun, made plural when n is not 1.
func plural(n uint64, noun string) string {
	switch n {
	case 1:
		if noun == "time" {
			return "once"
		}
		return "1 " + noun
	default:
		return fmt.Sprintf("%d %ss", n, noun)
	}
}
