package wire_test

import (
	"errors"
	"fmt"

	"github.com/phxgo/pubsub/internal/wire"
)

func Example() {
	key := []byte("shared secret")
	e := wire.Envelope{
		Kind:        wire.KindBroadcast,
		Origin:      "node-a",
		Incarnation: [16]byte{0x9f, 0x1c}, // random at every start in real use
		Seq:         1,
		Topic:       "room:lobby",
		PayloadType: "string",
		Payload:     []byte("hello"),
	}
	frame, err := wire.Append(nil, &e, key)
	if err != nil {
		panic(err)
	}

	f, err := wire.DecodeSigned(string(frame), wire.Limits{}, "", key)
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Kind, f.Origin, f.Seq, f.Topic, f.PayloadType, f.Payload, f.Signed)

	_, err = wire.DecodeSigned(string(frame), wire.Limits{}, "", []byte("wrong"))
	fmt.Println(errors.Is(err, wire.ErrSignature))

	_, err = wire.Decode("\xdd\xff\xff\xff\xff", wire.Limits{})
	fmt.Println(err)
	// Output:
	// broadcast node-a 1 room:lobby string hello true
	// true
	// wire: malformed frame: no "PX" magic
}

func ExampleCheckMsgpack() {
	// An array32 header declaring 4 294 967 295 elements: msgpack would try to allocate 64 GiB for it.
	err := wire.CheckMsgpack([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, wire.DefaultMaxDepth)
	fmt.Println(err)
	fmt.Println(errors.Is(err, wire.ErrMalformed))
	// Output:
	// wire: malformed frame: msgpack: array or map count exceeds the remaining bytes
	// true
}
