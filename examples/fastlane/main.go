// Fastlane shows Phoenix's fastlane in Go: many connections subscribe to a topic with their writer as
// subscription metadata, and one broadcast is encoded once and written to all of them.
//
//	go run ./examples/fastlane
//
// Each connection here stands for a websocket: WriteFrame queues the frame without blocking, and the
// connection's own goroutine writes the queue to the network (here, a byte counter).
package main

import (
	"context"
	"fmt"
	"log"
	"sync"
	"sync/atomic"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/fastlane"
)

const connections = 1000

// conn is one client connection: an outbound queue drained by the connection's write loop.
type conn struct {
	out     chan []byte   // frames waiting to be written; never closed (see WriteFrame)
	done    chan struct{} // closed when the connection ends
	dropped atomic.Uint64 // frames dropped because out was full
	written atomic.Uint64 // bytes written to the network
}

func newConn() *conn {
	return &conn{out: make(chan []byte, 64), done: make(chan struct{})}
}

// WriteFrame implements fastlane.FrameWriter. It never blocks: a connection that cannot keep up loses
// the frame (and should be disconnected by its owner). The fastlane may still call it after the
// connection unsubscribed, from a broadcast already under way, so out is never closed: done says the
// connection has ended.
func (c *conn) WriteFrame(frame []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.out <- frame:
		return true
	default:
		c.dropped.Add(1)
		return false
	}
}

// writeLoop writes queued frames until the connection ends, then flushes what is left. The frame is
// shared with every other connection: write it, never modify it.
func (c *conn) writeLoop() {
	for {
		select {
		case frame := <-c.out:
			c.written.Add(uint64(len(frame))) // a real connection writes frame to its socket here
		case <-c.done:
			for {
				select {
				case frame := <-c.out:
					c.written.Add(uint64(len(frame)))
				default:
					return
				}
			}
		}
	}
}

type chatMessage struct {
	User string `json:"user"`
	Body string `json:"body"`
}

func main() {
	fl := &fastlane.Dispatcher{} // JSON frames: {"topic": ..., "payload": ...}
	ps, err := pubsub.New(context.Background(), pubsub.Config{
		Name:        "chat",
		Dispatchers: map[string]pubsub.Dispatcher{fastlane.Name: fl},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()

	// Connections join the topic with their writer as metadata.
	var wg sync.WaitGroup
	conns := make([]*conn, connections)
	subs := make([]*pubsub.Subscriber, connections)
	for i := range conns {
		conns[i] = newConn()
		wg.Go(conns[i].writeLoop)
		if subs[i], err = ps.NewSubscriber(); err != nil {
			log.Fatal(err)
		}
		if err := subs[i].Subscribe("room:lobby", fastlane.WithWriter(conns[i])); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("%d connections joined room:lobby\n", connections)

	// One broadcast through the fastlane: encoded once, the same bytes queued on every connection.
	msg := chatMessage{User: "shane", Body: "hello, everyone"}
	if err := ps.Broadcast(context.Background(), "room:lobby", msg, pubsub.WithDispatcher(fastlane.Name)); err != nil {
		log.Fatal(err)
	}

	// Connections leave: unsubscribe first, then end the write loops, which flush their queues.
	for i, c := range conns {
		subs[i].Close()
		close(c.done)
	}
	wg.Wait()

	var written, dropped uint64
	for _, c := range conns {
		written += c.written.Load()
		dropped += c.dropped.Load()
	}
	st := fl.Stats()
	fmt.Printf("broadcast encoded %d time(s), %d frames queued, %d dropped\n", st.Encodes, st.Writes, dropped)
	fmt.Printf("%d bytes written in all, %d per connection\n", written, written/connections)
}
