package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/dispatch"
	"github.com/phxgo/pubsub/localadapter"
)

// demoWait bounds every wait of the demo, so that it always ends by itself.
const demoWait = 2 * time.Second

func demoUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage:\n  pubsub demo [flags]")
	fmt.Fprintln(w, "\nDemo walks through Phoenix.PubSub's ideas on one node with the local adapter (no Redis),")
	fmt.Fprintln(w, "narrating each step: subscribers join topics, a broadcast, a broadcast from a sender, the")
	fmt.Fprintln(w, "fastlane dispatcher writing to sockets, and a slow consumer. It ends by itself.")
	printFlags(w, fs)
}

// runDemo is "pubsub demo".
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pubsub demo", flag.ContinueOnError)
	sockets := fs.Int("sockets", 3, "`count` of fastlane sockets (1 to 100)")
	mailbox := fs.Int("mailbox", 2, "mailbox `size` of the slow consumer (1 to 100)")
	if code, ok := parseFlags(fs, args, stdout, stderr, demoUsage); !ok {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return usageError(stderr, fs, "unexpected argument %q", fs.Arg(0))
	case *sockets < 1 || *sockets > 100:
		return usageError(stderr, fs, "-sockets %d is outside 1..100", *sockets)
	case *mailbox < 1 || *mailbox > 100:
		return usageError(stderr, fs, "-mailbox %d is outside 1..100", *mailbox)
	}
	d := &demo{out: stdout, sockets: *sockets, mailbox: *mailbox}
	if err := d.run(ctx); err != nil {
		fmt.Fprintf(stderr, "pubsub demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// demo narrates one PubSub, step by step.
type demo struct {
	out     io.Writer
	sockets int
	mailbox int

	ps       *pubsub.PubSub
	fastlane *dispatch.FastlaneDispatcher
	reports  chan pubsub.SlowConsumer
}

// score is the payload of the fastlane step: its JSON is what the sockets receive.
type score struct {
	Player string `json:"player"`
	Points int    `json:"points"`
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	d.fastlane = &dispatch.FastlaneDispatcher{}
	d.reports = make(chan pubsub.SlowConsumer, 16)
	ps, err := pubsub.New(pubsub.Config{
		Name:        "demo",
		Adapter:     localadapter.New("demo@localhost"),
		Dispatchers: map[string]pubsub.Dispatcher{dispatch.FastlaneName: d.fastlane},
		OnSlowConsumer: func(e pubsub.SlowConsumer) {
			select {
			case d.reports <- e:
			default: // never block the reporter; the demo checks there is only one
			}
		},
	})
	if err != nil {
		return err
	}
	d.ps = ps
	defer ps.Close()
	d.say("PubSub %q started on node %q (local adapter, no Redis)", ps.Name(), ps.NodeName())

	for _, step := range []func(context.Context) error{d.broadcast, d.fastlaneStep, d.slowConsumer} {
		if err := ctx.Err(); err != nil { // interrupted
			return err
		}
		if err := step(ctx); err != nil {
			return err
		}
	}
	if err := ps.Close(); err != nil {
		return err
	}
	d.say("\nPubSub closed: every subscriber is closed and every goroutine stopped. Done.")
	return nil
}

// broadcast shows subscribers joining a topic, a broadcast, and a broadcast from a sender.
func (d *demo) broadcast(ctx context.Context) error {
	d.say("\n1. Subscribers join topics")
	names := []string{"alice", "bob", "carol"}
	subs := make(map[string]*pubsub.Subscriber, len(names))
	for _, name := range names {
		s := d.ps.NewSubscriber()
		if err := s.Subscribe("room:lobby"); err != nil {
			return err
		}
		subs[name] = s
		d.say("   %s joined %q", name, "room:lobby")
	}

	d.say("\n2. Broadcast: every subscriber of the topic receives it")
	if err := d.ps.Broadcast(ctx, "room:lobby", "hello, everyone"); err != nil {
		return err
	}
	d.say("   broadcast to %q: %q", "room:lobby", "hello, everyone")
	for _, name := range names {
		if err := d.expect(ctx, name, subs[name]); err != nil {
			return err
		}
	}

	d.say("\n3. Broadcast from a sender: the sender is skipped")
	if err := d.ps.BroadcastFrom(ctx, subs["alice"], "room:lobby", "hi, it's alice"); err != nil {
		return err
	}
	d.say("   alice broadcast_from %q: %q", "room:lobby", "hi, it's alice")
	for _, name := range names[1:] {
		if err := d.expect(ctx, name, subs[name]); err != nil {
			return err
		}
	}
	if msg, ok := pending(subs["alice"]); ok {
		return fmt.Errorf("alice received her own message %q", msg.Payload)
	}
	d.say("   alice received nothing (she sent it)")
	for _, s := range subs {
		s.Close()
	}
	return nil
}

// fastlaneStep shows a custom dispatcher reading subscription metadata: the fastlane encodes once and
// writes the frame to every socket; a subscriber without a socket gets the message in its mailbox.
func (d *demo) fastlaneStep(ctx context.Context) error {
	d.say("\n4. Custom dispatcher: the fastlane encodes once and writes to every socket")
	sockets := make([]*dispatch.ChanWriter, d.sockets)
	for i := range sockets {
		sockets[i] = dispatch.NewChanWriter(4)
		s := d.ps.NewSubscriber()
		defer s.Close()
		if err := s.Subscribe("room:game", dispatch.WithFastlane(sockets[i])); err != nil {
			return err
		}
	}
	d.say("   %s joined %q with fastlane metadata", plural(uint64(d.sockets), "socket"), "room:game")
	dave := d.ps.NewSubscriber()
	defer dave.Close()
	if err := dave.Subscribe("room:game"); err != nil {
		return err
	}
	d.say("   dave joined %q without metadata", "room:game")

	payload := score{Player: "alice", Points: 10}
	if err := d.ps.Broadcast(ctx, "room:game", payload, pubsub.WithDispatcher(dispatch.FastlaneName)); err != nil {
		return err
	}
	d.say("   broadcast to %q through dispatcher %q: %+v", "room:game", dispatch.FastlaneName, payload)
	for i, sock := range sockets {
		select {
		case frame := <-sock.C():
			d.say("   socket %d wrote %s", i+1, frame)
		case <-time.After(demoWait):
			return fmt.Errorf("socket %d: no frame after %v", i+1, demoWait)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := d.expect(ctx, "dave", dave); err != nil {
		return err
	}
	st := d.fastlane.Stats()
	d.say("   encoded %s, written to %s", plural(st.Encodes, "time"), plural(st.Writes, "socket"))
	return nil
}

// slowConsumer shows a subscriber that does not read: its small mailbox fills, the broadcaster drops
// and counts, and the PubSub reports the slow consumer once.
func (d *demo) slowConsumer(ctx context.Context) error {
	d.say("\n5. Slow consumer: a broadcaster never waits for a subscriber")
	erin := d.ps.NewSubscriber(pubsub.WithMailboxSize(d.mailbox))
	defer erin.Close()
	if err := erin.Subscribe("ticks"); err != nil {
		return err
	}
	d.say("   erin joined %q with a mailbox of %d and does not read", "ticks", d.mailbox)
	n := d.mailbox + 3
	for i := range n {
		if err := d.ps.Broadcast(ctx, "ticks", i); err != nil {
			return err
		}
	}
	d.say("   broadcast %d messages to %q", n, "ticks")
	d.say("   erin's mailbox holds %d; %d dropped", len(erin.C()), erin.Dropped())

	select {
	case e := <-d.reports:
		d.say("   slow consumer reported: subscriber %d, mailbox size %d", e.SubscriberID, e.MailboxSize)
	case <-time.After(demoWait):
		return errors.New("no slow-consumer report")
	case <-ctx.Done():
		return ctx.Err()
	}
	for range len(erin.C()) { // erin catches up: the episode is over
		<-erin.C()
	}
	if err := d.ps.Broadcast(ctx, "ticks", n); err != nil {
		return err
	}
	if msg, ok := pending(erin); !ok || msg.Payload != n {
		return fmt.Errorf("erin caught up but did not receive tick %d", n)
	}
	d.say("   erin caught up and received tick %d; still %d dropped, reported once", n, erin.Dropped())
	if len(d.reports) != 0 {
		return fmt.Errorf("%d more slow-consumer reports, want one per episode", len(d.reports))
	}
	return nil
}

// expect narrates name receiving one message, waiting up to demoWait for it.
func (d *demo) expect(ctx context.Context, name string, s *pubsub.Subscriber) error {
	ctx, cancel := context.WithTimeout(ctx, demoWait)
	defer cancel()
	msg, err := s.Receive(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	switch p := msg.Payload.(type) {
	case string:
		d.say("   %s received %q", name, p)
	default:
		d.say("   %s received %+v (a plain Message in the mailbox)", name, p)
	}
	return nil
}

// pending returns a message already in s's mailbox, without waiting. Local delivery is complete when a
// broadcast returns, so on one node an empty mailbox means nothing was delivered.
func pending(s *pubsub.Subscriber) (pubsub.Message, bool) {
	select {
	case msg := <-s.C():
		return msg, true
	default:
		return pubsub.Message{}, false
	}
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
