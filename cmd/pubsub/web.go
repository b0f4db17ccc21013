package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/fastlane"
	"github.com/phxgo/pubsub/internal/ratelog"
	"github.com/phxgo/pubsub/presence"
	"github.com/phxgo/pubsub/tracker"
)

// webStopTimeout bounds each step of the web demo's shutdown.
const webStopTimeout = 5 * time.Second

// webShutdownWait is how long a node's web server waits for its last HTTP requests when the demo stops.
const webShutdownWait = time.Second

// webDemo is "pubsub demo --web": a chat room served by two or three nodes of one PubSub, each with
// its own HTTP server, Redis adapter, fastlane and presence tracker. Browsers connect to any node over
// a WebSocket; messages and presences cross nodes through Redis. It runs until ctx ends.
type webDemo struct {
	out    io.Writer
	logger *slog.Logger
	name   string
	target *redisTarget // nil: the embedded Redis
	listen string       // host:port of the first node; the others take the next ports (port 0: any)
	nodes  int

	started []*webNode
}

// webNode is one node of the web demo.
type webNode struct {
	name     string
	url      string
	ps       *pubsub.PubSub
	fastlane *fastlane.Dispatcher
	presence *presence.Presence
	peers    []webPeer // every node of the demo, this one included, for the page's links

	ln      net.Listener
	srv     *http.Server
	served  chan struct{} // closed when Serve has returned
	connCtx context.Context
	stop    context.CancelFunc // ends every browser connection
	mu      sync.Mutex
	closing bool           // no new connections
	conns   sync.WaitGroup // connections being served

	rlog        *ratelog.Log
	badMessages atomic.Uint64
}

// webPeer is a node as the page lists it.
type webPeer struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

func (n *webNode) log(level slog.Level, key, msg string, attrs ...slog.Attr) {
	n.rlog.LogAt(level, key, msg, append(attrs, slog.String("node", n.name))...)
}

// enter counts one more connection being served, unless the node is stopping.
func (n *webNode) enter() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return false
	}
	n.conns.Add(1)
	return true
}

func (d *webDemo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *webDemo) run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := pubsub.RegisterType[chatMessage](chatTypeName); err != nil {
		return err
	}
	if d.target == nil {
		mini := miniredis.NewMiniRedis()
		if err := mini.Start(); err != nil {
			return fmt.Errorf("%w: embedded Redis: %v", errJoin, err)
		}
		defer mini.Close() // deferred first: runs after the nodes have stopped
		t, err := parseRedisURL("redis://" + mini.Addr() + "/0")
		if err != nil {
			return err
		}
		d.target = t
		d.say("Redis: embedded (miniredis, in this process)")
	} else {
		d.say("Redis: %s", d.target.addr())
	}
	defer d.stop()
	var names []string
	for i := range d.nodes {
		if err := d.startNode(demoNodeNames[i], i); err != nil {
			return fmt.Errorf("%w: %v", errJoin, err)
		}
		names = append(names, demoNodeNames[i])
	}
	var peers []webPeer
	for _, n := range d.started {
		peers = append(peers, webPeer{Name: n.name, URL: n.url})
	}
	for _, n := range d.started {
		n.peers = peers
		go func() {
			defer close(n.served)
			if err := n.srv.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.logger.Error("web demo: HTTP server failed", slog.String("node", n.name), slog.Any("err", err))
			}
		}()
	}
	d.say("PubSub %q: %s joined, each with its own Redis adapter, presence tracker and web server", d.name, andList(names))
	d.say("Chat room %q: open a page on each node (or several), in a browser:", webRoom)
	for _, n := range d.started {
		d.say("  %s  %s", n.name, n.url)
	}
	d.say("Press Ctrl-C to stop.")
	<-ctx.Done()
	d.say("Stopping: connections closed, presences leave, nodes leave gracefully.")
	if err := d.stop(); err != nil {
		return err
	}
	d.say("Done.")
	return nil
}

// startNode starts the node called name, the i-th: its PubSub, presence tracker and HTTP listener.
func (d *webDemo) startNode(name string, i int) error {
	n := &webNode{name: name, fastlane: &fastlane.Dispatcher{Encoder: encodeWebFrame}, served: make(chan struct{})}
	n.rlog = ratelog.New(d.logger, 10*time.Second)
	n.fastlane.OnEncodeError = func(msg pubsub.Message, err error) {
		n.log(slog.LevelError, "encode", "web demo: a broadcast could not be encoded", slog.Any("err", err))
	}
	addr, err := webListenAddr(d.listen, i)
	if err != nil {
		return err
	}
	if n.ln, err = net.Listen("tcp", addr); err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	n.url = webURL(n.ln.Addr())
	n.connCtx, n.stop = context.WithCancel(context.Background())
	d.started = append(d.started, n) // stop closes what is open from here on
	n.ps, _, err = d.target.startNode(nodeConfig{
		pubsubName: d.name,
		nodeName:   name,
		pubsub:     pubsub.Config{Dispatchers: map[string]pubsub.Dispatcher{fastlane.Name: n.fastlane}},
	})
	if err != nil {
		return err
	}
	tcfg := tracker.ProductionConfig(demoTracker, nil)
	tcfg.Logger = d.logger
	if n.presence, err = presence.New(n.ps, presence.Config{Tracker: tcfg, Dispatcher: fastlane.Name}); err != nil {
		return err
	}
	n.srv = &http.Server{Handler: n.routes(), ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// stop stops every node started: browser connections first (their presences leave), then the HTTP
// servers, the trackers (gracefully: the other nodes forget this one at once) and the PubSubs. It
// returns the first error; a second call does nothing.
func (d *webDemo) stop() error {
	var first error
	note := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	nodes := d.started
	d.started = nil
	for _, n := range nodes {
		n.mu.Lock()
		n.closing = true
		n.mu.Unlock()
		n.stop()
	}
	for _, n := range nodes {
		n.conns.Wait()
		if n.srv != nil {
			// The WebSockets are closed already; what Shutdown may wait for is a browser's preconnected
			// sockets, which never sent a request: http.Server counts those as active for their first 5 s.
			// Past webShutdownWait they are closed.
			ctx, cancel := context.WithTimeout(context.Background(), webShutdownWait)
			if err := n.srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
				note(n.srv.Close())
			} else {
				note(err)
			}
			cancel()
			<-n.served
		} else {
			n.ln.Close()
		}
	}
	for _, n := range nodes {
		if n.presence != nil {
			ctx, cancel := context.WithTimeout(context.Background(), webStopTimeout)
			note(n.presence.GracefulPermdown(ctx))
			cancel()
		}
		if n.ps != nil {
			note(n.ps.Close())
		}
	}
	return first
}

// webListenAddr returns the address of the i-th node: listen's port plus i, or port 0 for every node
// when listen's port is 0.
func webListenAddr(listen string, i int) (string, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %v", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port+i > 65535 {
		return "", fmt.Errorf("--listen %q: bad port %q", listen, portStr)
	}
	if port == 0 {
		return net.JoinHostPort(host, "0"), nil
	}
	return net.JoinHostPort(host, strconv.Itoa(port+i)), nil
}

// webURL is the page's URL on a listener: an unspecified host (all interfaces) is shown as localhost.
func webURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String() + "/"
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port)) + "/"
}
