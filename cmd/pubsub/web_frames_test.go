package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/presence"
)

func TestDecodeClientMessage(t *testing.T) {
	for _, tc := range []struct {
		in, body, err string
	}{
		{`{"event":"new_msg","body":" hi \n there "}`, "hi \n there", ""},
		{`{"event":"new_msg","body":"` + strings.Repeat("é", maxBodyRunes) + `"}`, strings.Repeat("é", maxBodyRunes), ""},
		{`{"event":"new_msg","body":"` + strings.Repeat("é", maxBodyRunes+1) + `"}`, "", "more than 500"},
		{`{"event":"new_msg","body":"   "}`, "", "empty body"},
		{`{"event":"new_msg"}`, "", "empty body"},
		{`{"event":"other","body":"x"}`, "", `unknown event "other"`},
		{`{"event":"new_msg","body":"x","extra":1}`, "", "unknown field"},
		{`{"event":"new_msg","body":"x"} {}`, "", "more than one JSON value"},
		{`{"event":"new_msg","body":"a\u0007b"}`, "", "control character U+0007"},
		{`{"event":"new_msg","body":"\ud800"}`, "\uFFFD", ""}, // encoding/json replaces a lone surrogate
		{`[1]`, "", "not a message object"},
		{``, "", "not a message object"},
		{strings.Repeat(" ", maxClientFrame+1), "", "more than 4096"},
	} {
		m, err := decodeClientMessage([]byte(tc.in))
		if tc.err == "" {
			if err != nil || m.Body != tc.body {
				t.Errorf("%.40q: %+v, %v; want body %q", tc.in, m, err, tc.body)
			}
			continue
		}
		if !errors.Is(err, errBadClientMessage) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%.40q: %v; want an error with %q", tc.in, err, tc.err)
		}
	}
}

func TestCheckUserName(t *testing.T) {
	for in, want := range map[string]string{" alice ": "alice", "Zoë 2": "Zoë 2", strings.Repeat("x", maxUserRunes): strings.Repeat("x", maxUserRunes)} {
		if got, err := checkUserName(in); err != nil || got != want {
			t.Errorf("%q: %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "  ", strings.Repeat("x", maxUserRunes+1), "a\x00b", "a\u200bb", "\xff"} {
		if got, err := checkUserName(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}

func TestEncodeWebFrame(t *testing.T) {
	b, err := encodeWebFrame(pubsub.Message{Topic: webRoom, Payload: chatMessage{User: "a", Body: "<b>", Node: "node-a", At: 1}})
	if err != nil || string(b) != `{"topic":"room:lobby","event":"new_msg","payload":{"user":"a","body":"\u003cb\u003e","node":"node-a","at":1}}` {
		t.Fatalf("chat: %s, %v", b, err)
	}
	b, err = encodeWebFrame(pubsub.Message{Topic: webRoom, Payload: presence.Diff{Joins: presence.Presences{}, Leaves: presence.Presences{}}})
	if err != nil || string(b) != `{"topic":"room:lobby","event":"presence_diff","payload":{"joins":{},"leaves":{}}}` {
		t.Fatalf("diff: %s, %v", b, err)
	}
	if _, err := encodeWebFrame(pubsub.Message{Topic: webRoom, Payload: "text"}); !errors.Is(err, errUnknownPayload) {
		t.Fatalf("a string payload: %v", err)
	}
}

// FuzzDecodeClientMessage: whatever a browser sends, decoding never panics, and what it accepts is a
// chat message within bounds.
func FuzzDecodeClientMessage(f *testing.F) {
	for _, s := range []string{`{"event":"new_msg","body":"hi"}`, `{"event":"new_msg","body":"\u0000"}`, `{}`, `null`, `"x"`, `{"event":"new_msg","body":"` + strings.Repeat("a", 600) + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeClientMessage(b)
		if err != nil {
			if !errors.Is(err, errBadClientMessage) {
				t.Fatalf("error %v does not wrap errBadClientMessage", err)
			}
			return
		}
		n := utf8.RuneCountInString(m.Body)
		if m.Event != eventNewMsg || n == 0 || n > maxBodyRunes || !utf8.ValidString(m.Body) || strings.TrimSpace(m.Body) != m.Body {
			t.Fatalf("accepted %+v", m)
		}
		for _, r := range m.Body {
			if unicode.IsControl(r) && r != '\n' && r != '\t' {
				t.Fatalf("accepted control character %U", r)
			}
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	})
}
