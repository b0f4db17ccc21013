package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/fastlane"
)

// webRoom is the web demo's one chat room: the topic browsers join, and the topic of their presences.
const webRoom = "room:lobby"

// Bounds of a browser connection.
const (
	webQueueFrames  = 256              // frames queued for a browser before the connection is dropped
	webWriteTimeout = 10 * time.Second // to write one frame to a browser
)

// webConnWriter is a connection's fastlane FrameWriter: a bounded queue that the connection's writer
// goroutine drains. A frame that does not fit ends the connection: a browser that misses a
// presence_diff would show a wrong presence list, so it is better off reconnecting (and receiving a
// fresh presence_state).
type webConnWriter struct {
	frames   chan []byte
	overflow chan struct{} // closed at the first frame dropped
	once     sync.Once
}

func newWebConnWriter() *webConnWriter {
	return &webConnWriter{frames: make(chan []byte, webQueueFrames), overflow: make(chan struct{})}
}

// WriteFrame implements fastlane.FrameWriter: it never blocks.
func (w *webConnWriter) WriteFrame(frame []byte) bool {
	select {
	case w.frames <- frame:
		return true
	default:
		w.once.Do(func() { close(w.overflow) })
		return false
	}
}

var _ fastlane.FrameWriter = (*webConnWriter)(nil)

// serveWS is a browser's connection to node n: GET /ws?user=NAME, upgraded to a WebSocket. The
// connection is a subscriber of the room (through the fastlane: frames are encoded once per node and
// queued here) that owns the user's presence, so the presence leaves, on every node, when the
// connection ends.
func (n *webNode) serveWS(w http.ResponseWriter, r *http.Request) {
	user, err := checkUserName(r.URL.Query().Get("user"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// The page and the WebSocket come from the same node, so the library's same-origin check applies.
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the request
	}
	defer conn.CloseNow()
	conn.SetReadLimit(maxClientFrame)

	n.session(conn, user)
}

// session runs one browser's connection until it ends, and closes it.
func (n *webNode) session(conn *websocket.Conn, user string) {
	// The reader's and writer's context ends after the close handshake, not when the node stops: a
	// Read or Write whose context ends closes the connection at once, without the close status.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fail := func(status websocket.StatusCode, reason string) { conn.Close(status, reason) }
	sub, err := n.ps.NewSubscriber()
	if err != nil {
		fail(websocket.StatusTryAgainLater, "the node is stopping")
		return
	}
	defer sub.Close() // on every return: the presence leaves, on every node
	out := newWebConnWriter()
	if err := sub.Subscribe(webRoom, fastlane.WithWriter(out)); err != nil {
		fail(websocket.StatusInternalError, "cannot join the room")
		return
	}
	meta := map[string]any{"node": n.name, "online_at": time.Now().UnixMilli()}
	if _, err := n.presence.Track(sub, webRoom, user, meta); err != nil {
		fail(websocket.StatusInternalError, "cannot track the presence")
		return
	}
	// presence_state goes through the same queue as the diffs, after the subscription: a diff may come
	// before it (the browser applies it after the state) or be in it already (applying it again changes
	// nothing: joins and leaves are matched by phx_ref).
	state, err := json.Marshal(webFrame{Topic: webRoom, Event: eventPresenceState, Payload: n.presence.List(webRoom)})
	if err != nil || !out.WriteFrame(state) {
		fail(websocket.StatusInternalError, "cannot send the presence state")
		return
	}

	writeErr := make(chan error, 1)
	go func() { writeErr <- writeFrames(ctx, conn, out) }()
	readErr := make(chan error, 1)
	go func() { readErr <- n.readMessages(ctx, conn, out, user) }()

	var status websocket.StatusCode = websocket.StatusNormalClosure
	reason := ""
	select {
	case <-readErr: // the browser left (or sent something the library refused)
		readErr = nil
	case err := <-writeErr:
		writeErr = nil
		if err != nil {
			status, reason = websocket.StatusInternalError, "write failed"
		}
	case <-out.overflow:
		status, reason = websocket.StatusPolicyViolation, "too slow: frames were dropped"
		n.log(slog.LevelWarn, "slow", "web demo: a browser could not keep up; its connection is closed",
			slog.String("user", user))
	case <-n.connCtx.Done():
		status, reason = websocket.StatusGoingAway, "the node is stopping"
	}
	sub.Close()                // the presence leaves, on every node
	conn.Close(status, reason) // the close handshake, while the reader still reads
	cancel()                   // ends the writer, and the reader's Read
	if readErr != nil {
		<-readErr
	}
	if writeErr != nil {
		<-writeErr
	}
}

// writeFrames writes queued frames to the browser until ctx ends or a write fails.
func writeFrames(ctx context.Context, conn *websocket.Conn, out *webConnWriter) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-out.frames:
			wctx, cancel := context.WithTimeout(ctx, webWriteTimeout)
			err := conn.Write(wctx, websocket.MessageText, f)
			cancel()
			if err != nil {
				return err
			}
		}
	}
}

// readMessages reads the browser's messages and broadcasts each chat message to the room, on every
// node, through the fastlane. A message that is not a valid chat message is counted, logged at a
// limited rate, and answered with a phx_error frame; the connection goes on.
func (n *webNode) readMessages(ctx context.Context, conn *websocket.Conn, out *webConnWriter, user string) error {
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var m clientMessage
		if typ != websocket.MessageText {
			err = errors.New("binary message")
		} else {
			m, err = decodeClientMessage(b)
		}
		if err != nil {
			n.badMessages.Add(1)
			n.log(slog.LevelWarn, "bad message", "web demo: a browser sent a bad message",
				slog.String("user", user), slog.Any("err", err))
			frame, _ := json.Marshal(webFrame{Event: eventError, Payload: map[string]string{"reason": err.Error()}})
			out.WriteFrame(frame) // when the queue is full, the connection ends anyway
			continue
		}
		msg := chatMessage{User: user, Body: m.Body, Node: n.name, At: time.Now().UnixMilli()}
		if err := n.ps.Broadcast(ctx, webRoom, msg, pubsub.WithDispatcher(fastlane.Name)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			n.log(slog.LevelError, "broadcast", "web demo: a broadcast failed", slog.Any("err", err))
		}
	}
}
