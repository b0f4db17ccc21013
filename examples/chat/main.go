// Command chat is a small chat on several nodes: each node is a PubSub on one Redis (an embedded
// miniredis here; set REDIS_URL to use a real one) with a tracker for who is in which room. Users join
// rooms on different nodes, talk, and every node lists the same people per room.
//
//	go run ./examples/chat
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/redisadapter"
	"github.com/phxgo/pubsub/tracker"
)

// Said is a chat message. Registered, so it arrives on every node as a Said.
type Said struct {
	User, Text string
}

func init() { pubsub.MustRegisterType[Said]("chat.said") }

// node is one server of the chat: a PubSub and a tracker.
type node struct {
	name     string
	ps       *pubsub.PubSub
	presence *tracker.Tracker
}

func startNode(ctx context.Context, url, name string) (*node, error) {
	a, err := redisadapter.New(redisadapter.Config{URL: url, NodeName: name})
	if err != nil {
		return nil, err
	}
	ps, err := pubsub.New(ctx, pubsub.Config{Name: "chat", Adapter: a})
	if err != nil {
		return nil, err
	}
	// Fast timings for a demo; use tracker.ProductionConfig in production.
	t, err := tracker.New(ps, tracker.TestConfig("chat_presence", nil))
	if err != nil {
		ps.Close()
		return nil, err
	}
	return &node{name: name, ps: ps, presence: t}, nil
}

func (n *node) close() {
	n.presence.GracefulPermdown(context.Background())
	n.ps.Close()
}

// join puts user in room on this node: a subscriber (the user's connection) that receives the room's
// messages, and a presence that ends when the connection closes.
func (n *node) join(user, room string) (*pubsub.Subscriber, error) {
	conn, err := n.ps.NewSubscriber()
	if err != nil {
		return nil, err
	}
	if err := conn.Subscribe("room:" + room); err != nil {
		return nil, err
	}
	if _, err := n.presence.Track(conn, "room:"+room, user, map[string]any{"node": n.name}); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (n *node) who(room string) []string {
	var users []string
	for _, p := range n.presence.List("room:" + room) {
		users = append(users, p.Key)
	}
	slices.Sort(users)
	return users
}

func main() {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		m, err := miniredis.Run()
		if err != nil {
			log.Fatal(err)
		}
		defer m.Close()
		url = "redis://" + m.Addr() + "/0"
	}
	ctx := context.Background()
	var nodes []*node
	for _, name := range []string{"eu-1", "eu-2", "us-1"} {
		n, err := startNode(ctx, url, name)
		if err != nil {
			log.Fatal(err)
		}
		defer n.close()
		nodes = append(nodes, n)
	}

	alice, _ := nodes[0].join("alice", "lobby")
	bob, _ := nodes[1].join("bob", "lobby")
	carol, _ := nodes[2].join("carol", "lobby")
	waitFor(func() bool { return len(nodes[0].who("lobby")) == 3 && len(nodes[2].who("lobby")) == 3 })
	for _, n := range nodes {
		fmt.Printf("%s sees in lobby: %s\n", n.name, strings.Join(n.who("lobby"), ", "))
	}

	nodes[0].ps.Broadcast(ctx, "room:lobby", Said{User: "alice", Text: "hi all"})
	for _, c := range []struct {
		name string
		conn *pubsub.Subscriber
	}{{"alice", alice}, {"bob", bob}, {"carol", carol}} {
		msg := <-c.conn.C()
		said := msg.Payload.(Said)
		fmt.Printf("%s got %q from %s\n", c.name, said.Text, said.User)
	}

	bob.Close() // bob's connection closes: his presence ends on every node
	waitFor(func() bool { return len(nodes[2].who("lobby")) == 2 })
	fmt.Printf("after bob left, us-1 sees: %s\n", strings.Join(nodes[2].who("lobby"), ", "))
}

func waitFor(cond func() bool) {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			log.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
