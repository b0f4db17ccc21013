package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/presence"
)

// The web demo's protocol, JSON text messages over one WebSocket per browser, in the shape of Phoenix's
// channel messages:
//
//	server → browser: {"topic": "room:lobby", "event": "presence_state", "payload": {key: {"metas": [...]}}}
//	                  {"topic": "room:lobby", "event": "presence_diff", "payload": {"joins": {...}, "leaves": {...}}}
//	                  {"topic": "room:lobby", "event": "new_msg", "payload": {"user", "body", "node", "at"}}
//	                  {"event": "phx_error", "payload": {"reason": "..."}}
//	browser → server: {"event": "new_msg", "body": "..."}
//
// presence_diff and new_msg reach the browsers through the fastlane: encoded once per node by
// encodeWebFrame, written to every connection of the room.

// Events of the web demo's protocol.
const (
	eventPresenceState = "presence_state"
	eventNewMsg        = "new_msg"
	eventError         = "phx_error"
)

// Bounds on what a browser sends.
const (
	maxClientFrame = 4096 // bytes of one message from a browser (the WebSocket read limit)
	maxBodyRunes   = 500  // characters of a chat message
	maxUserRunes   = 24   // characters of a user name
)

// chatMessage is a chat message as it is broadcast and as browsers receive it. It is registered with
// pubsub.RegisterType (chatTypeName), so that it arrives on every node as a chatMessage and the fastlane
// can encode it there.
type chatMessage struct {
	User string `json:"user" msgpack:"user"`
	Body string `json:"body" msgpack:"body"`
	Node string `json:"node" msgpack:"node"` // the node the sender is connected to
	At   int64  `json:"at" msgpack:"at"`     // when the node received it, Unix milliseconds
}

// chatTypeName is chatMessage's name on the wire.
const chatTypeName = "pubsub-demo.chat"

// webFrame is one message to a browser.
type webFrame struct {
	Topic   string `json:"topic,omitempty"`
	Event   string `json:"event"`
	Payload any    `json:"payload"`
}

// errUnknownPayload is returned by encodeWebFrame for a payload that is neither a chat message nor a
// presence diff.
var errUnknownPayload = errors.New("no event for this payload type")

// encodeWebFrame is the fastlane's Encoder on every node of the web demo: it names the event after the
// payload's type, as Phoenix's channels do.
func encodeWebFrame(msg pubsub.Message) ([]byte, error) {
	var event string
	switch msg.Payload.(type) {
	case chatMessage:
		event = eventNewMsg
	case presence.Diff:
		event = presence.Event
	default:
		return nil, fmt.Errorf("%w: %T on %q", errUnknownPayload, msg.Payload, msg.Topic)
	}
	return json.Marshal(webFrame{Topic: msg.Topic, Event: event, Payload: msg.Payload})
}

// clientMessage is a message from a browser.
type clientMessage struct {
	Event string `json:"event"`
	Body  string `json:"body"`
}

// errBadClientMessage is what decodeClientMessage's errors wrap.
var errBadClientMessage = errors.New("bad message")

// decodeClientMessage decodes and checks one message from a browser: a JSON object with exactly the
// fields of clientMessage, event "new_msg", and a body of 1 to maxBodyRunes characters once trimmed,
// without control characters other than newlines and tabs. It returns the body trimmed.
func decodeClientMessage(b []byte) (clientMessage, error) {
	bad := func(format string, args ...any) (clientMessage, error) {
		return clientMessage{}, fmt.Errorf("%w: "+format, append([]any{errBadClientMessage}, args...)...)
	}
	if len(b) > maxClientFrame {
		return bad("%d bytes, more than %d", len(b), maxClientFrame)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m clientMessage
	if err := dec.Decode(&m); err != nil {
		return bad("not a message object: %v", err)
	}
	if dec.More() {
		return bad("more than one JSON value")
	}
	if m.Event != eventNewMsg {
		return bad("unknown event %q", truncate(m.Event, 32))
	}
	m.Body = strings.TrimSpace(m.Body)
	switch n := utf8.RuneCountInString(m.Body); {
	case n == 0:
		return bad("empty body")
	case n > maxBodyRunes:
		return bad("body of %d characters, more than %d", n, maxBodyRunes)
	}
	if !utf8.ValidString(m.Body) {
		return bad("body is not valid UTF-8")
	}
	for _, r := range m.Body {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return bad("control character %U in body", r)
		}
	}
	return m, nil
}

// checkUserName returns name trimmed, or an error saying why it cannot be a user name: 1 to
// maxUserRunes printable characters.
func checkUserName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return "", errors.New("the user name is empty")
	case n > maxUserRunes:
		return "", fmt.Errorf("the user name has %d characters, more than %d", n, maxUserRunes)
	}
	if !utf8.ValidString(name) {
		return "", errors.New("the user name is not valid UTF-8")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return "", fmt.Errorf("the user name has the unprintable character %U", r)
		}
	}
	return name, nil
}

// truncate returns s cut to at most n bytes, on a rune boundary, for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
