package phoenixadapter

import (
	"testing"

	"github.com/phxgo/pubsub"
	"github.com/phxgo/pubsub/internal/etf"
)

// chat is the struct a Go program reads a typical 10-key payload into (msgpack tags for the default
// path, which converts through msgpack).
type chat struct {
	ID     int64    `json:"id" msgpack:"id"`
	User   string   `json:"user" msgpack:"user"`
	Body   string   `json:"body" msgpack:"body"`
	Room   string   `json:"room" msgpack:"room"`
	Count  int      `json:"count" msgpack:"count"`
	Score  float64  `json:"score" msgpack:"score"`
	Admin  bool     `json:"admin" msgpack:"admin"`
	Edited *string  `json:"edited" msgpack:"edited"`
	Tags   []string `json:"tags" msgpack:"tags"`
	Meta   struct {
		V int `json:"v" msgpack:"v"`
	} `json:"meta" msgpack:"meta"`
}

// chatFrame is a frame from an Elixir node whose message is the 10-key map of internal/etf's
// benchmarks.
func chatFrame(b *testing.B) string {
	msg := map[string]any{
		"id": int64(123456), "user": "alice", "body": "hello, world", "room": "room:lobby",
		"count": int64(42), "score": 0.75, "admin": false, "edited": nil,
		"tags": []any{"a", "b"}, "meta": map[string]any{"v": int64(1)},
	}
	f, err := (&etf.Encoder{}).Append(nil, etf.Tuple{int64(3), Atom("except"), Atom("a@127.0.0.1"), "room:lobby", msg, Atom(PubSubDispatcher)})
	if err != nil {
		b.Fatal(err)
	}
	return string(f)
}

// BenchmarkReceiveIntoStruct is what a received frame costs a program that reads its message into a
// struct: decoding the frame, then Message.Decode. Default: the message is a map[string]any, which
// Message.Decode converts through msgpack. TermPayloads: the message stays a Term, which
// Message.Decode decodes straight into the struct.
func BenchmarkReceiveIntoStruct(b *testing.B) {
	frame := chatFrame(b)
	for _, bm := range []struct {
		name   string
		decode func(string, int) (Frame, error)
	}{{"Default", DecodeFrame}, {"TermPayloads", decodeFrameTerm}} {
		b.Run(bm.name, func(b *testing.B) {
			var c chat
			b.ReportAllocs()
			for b.Loop() {
				f, err := bm.decode(frame, 0)
				if err != nil {
					b.Fatal(err)
				}
				c = chat{}
				if err := (pubsub.Message{Topic: f.Topic, Payload: f.Payload}).Decode(&c); err != nil {
					b.Fatal(err)
				}
			}
			if c.User != "alice" || c.Meta.V != 1 || len(c.Tags) != 2 {
				b.Fatalf("decoded %+v", c)
			}
		})
	}
}
