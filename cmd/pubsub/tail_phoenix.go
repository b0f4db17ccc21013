package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/phxgo/pubsub/phoenixadapter"
)

// phoenixTail makes tail read an Elixir application's Phoenix PubSub (pubsub tail --phoenix NAME):
// phoenix_pubsub_redis 3.x frames on phx:Elixir.NAME.Adapter instead of this module's envelopes.
type phoenixTail struct {
	ignored uint64 // terms of another shape (Phoenix ignores them too)
}

// tailRecordPhoenix is one line of --json output with --phoenix.
type tailRecordPhoenix struct {
	Topic      string `json:"topic"`
	Mode       string `json:"mode"` // "broadcast" (from node) or "direct" (to node)
	Node       string `json:"node"`
	Dispatcher string `json:"dispatcher"`
	Payload    any    `json:"payload"`
	Inspect    string `json:"inspect"` // the payload as Elixir prints it
}

// handle shows one frame of the Phoenix channel, if its topic is tailed.
func (p *phoenixTail) handle(t *tailer, payload string) {
	f, err := phoenixadapter.DecodeFrame(payload, phoenixadapter.DefaultMaxMessageSize)
	if errors.Is(err, phoenixadapter.ErrNotAFrame) {
		p.ignored++
		t.noteBad(err)
		return
	}
	if err != nil {
		t.noteBad(fmt.Errorf("not a term (a Phoenix node would crash on it): %w", err))
		return
	}
	if !t.matches(f.Topic) {
		return
	}
	mode, dir := "broadcast", "from"
	if f.Direct {
		mode, dir = "direct", "to"
	}
	node := f.Node
	if !f.NodeIsAtom {
		node = "(not an atom)"
	}
	if t.json {
		rec := tailRecordPhoenix{Topic: f.Topic, Mode: mode, Node: node, Dispatcher: inspectAtom(atomOf(f.Dispatcher)),
			Payload: jsonValue(f.Payload), Inspect: inspect(f.Payload)}
		if err := t.enc.Encode(rec); err != nil {
			t.noteBad(fmt.Errorf("topic %q: %w", f.Topic, err))
		}
		return
	}
	via := ""
	if f.Dispatcher != phoenixadapter.PubSubDispatcher {
		via = " via " + inspectAtom(atomOf(f.Dispatcher))
	}
	s := inspect(f.Payload)
	if len(s) > tailTextMax {
		s = showPayload("", s) // cut, as for other payloads
	}
	fmt.Fprintf(t.out, "%s %s %s %s (%s%s): %s\n", time.Now().Format("15:04:05.000"), f.Topic, dir, node, mode, via, s)
}

func atomOf(s string) phoenixadapter.Atom { return phoenixadapter.Atom(s) }
