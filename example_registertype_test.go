package pubsub_test

import (
	"context"
	"fmt"

	"github.com/phxgo/pubsub"
)

// PriceChanged is registered so that it arrives on every node as a PriceChanged, not as msgpack bytes.
type PriceChanged struct {
	SKU   string
	Cents int
}

// PriceView has the fields of PriceChanged that one consumer cares about.
type PriceView struct {
	Cents int
}

// RegisterType names a payload type, like gob.Register, so that a value broadcast on one node arrives on
// the others with its Go type. Decode fills a value of the payload's type, or of any type of the same
// shape, whichever node the message came from.
func ExampleRegisterType() {
	// Usually in an init function or a var block, the same on every node.
	pubsub.MustRegisterType[PriceChanged]("example.price_changed")

	fmt.Println(pubsub.RegisterType[PriceChanged]("example.price_changed")) // the same pair again: fine
	fmt.Println(pubsub.RegisterType[PriceView]("example.price_changed"))    // the name is taken

	ps, err := pubsub.New(context.Background(), pubsub.Config{Name: "shop"})
	if err != nil {
		panic(err)
	}
	defer ps.Close()
	sub, err := ps.NewSubscriber()
	if err != nil {
		panic(err)
	}
	if err := sub.Subscribe("prices"); err != nil {
		panic(err)
	}
	if err := ps.Broadcast(context.Background(), "prices", PriceChanged{SKU: "tea-42", Cents: 350}); err != nil {
		panic(err)
	}
	msg := <-sub.C()

	var full PriceChanged
	if err := msg.Decode(&full); err != nil { // the payload's own type: assigned
		panic(err)
	}
	var view PriceView
	if err := msg.Decode(&view); err != nil { // another type: converted field by field
		panic(err)
	}
	fmt.Printf("%+v\n%+v\n", full, view)
	// Output:
	// <nil>
	// pubsub: RegisterType[pubsub_test.PriceView]: name "example.price_changed" is already registered for pubsub_test.PriceChanged
	// {SKU:tea-42 Cents:350}
	// {Cents:350}
}
