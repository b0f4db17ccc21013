package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// phoenixPublish is pubsub publish --phoenix NAME: one node of an Elixir application's Phoenix PubSub
// (phoenixadapter) that broadcasts the payload, or each line of standard input.
type phoenixPublish struct {
	name        string // the Phoenix PubSub, MyApp.PubSub
	node        string
	event       string // with an event, each payload goes as %Phoenix.Socket.Broadcast{topic, event, payload}
	json        bool   // payloads are JSON (objects become maps with binary keys)
	direct      string // a direct broadcast to this node
	compression int
	verbose     bool
}

func (p *phoenixPublish) run(ctx context.Context, target *redisTarget, topic string, payload []string, stderr io.Writer) int {
	if p.node == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "localhost"
		}
		p.node = "pubsub-publish-" + randomHex(3) + "@" + host
	}
	a, err := phoenixadapter.New(phoenixadapter.Config{URL: target.url, PubSubName: p.name, NodeName: p.node, Compression: p.compression})
	if err != nil {
		fmt.Fprintf(stderr, "pubsub publish: %v\n", err)
		return exitUsage
	}
	ps, err := pubsub.New(ctx, pubsub.Config{Name: p.name, Adapter: a})
	if err != nil {
		fmt.Fprintf(stderr, "pubsub publish: node %q cannot join Phoenix PubSub %q on Redis at %s: %v\n", p.node, p.name, target.addr(), err)
		return exitUsage
	}
	defer ps.Close()

	n := 0
	send := func(s string) error {
		v, err := p.payload(topic, s)
		if err != nil {
			return err
		}
		if p.direct != "" {
			err = ps.DirectBroadcast(ctx, p.direct, topic, v)
		} else {
			err = ps.Broadcast(ctx, topic, v)
		}
		if err == nil {
			n++
		}
		return err
	}
	if len(payload) == 1 {
		err = send(payload[0])
	} else {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), phoenixadapter.DefaultMaxMessageSize)
		for err == nil && ctx.Err() == nil && sc.Scan() {
			err = send(sc.Text())
		}
		if err == nil {
			err = sc.Err()
		}
		if err == nil && ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
	if p.verbose {
		fmt.Fprintf(stderr, "pubsub publish: published %s to %q on Phoenix PubSub %q (channel %s) as node %q\n",
			plural(uint64(n), "message"), topic, p.name, a.Channel(), p.node)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pubsub publish: %v\n", err)
		if errors.Is(err, phoenixadapter.ErrUnencodable) {
			return exitUsage
		}
		return exitFailure
	}
	if err := ps.Close(); err != nil {
		fmt.Fprintf(stderr, "pubsub publish: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// payload is the message for one PAYLOAD argument or line.
func (p *phoenixPublish) payload(topic, s string) (any, error) {
	var v any = s
	if p.json {
		var err error
		if v, err = parseJSONPayload(s); err != nil {
			return nil, err
		}
	}
	if p.event != "" {
		return phoenixadapter.SocketBroadcast{Topic: topic, Event: p.event, Payload: v}, nil
	}
	return v, nil
}
