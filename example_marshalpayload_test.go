package pubsub_test

import (
	"fmt"

	"github.com/phxgo/pubsub"
)

// Position is a payload type every node registers.
type Position struct{ X, Y int }

func init() { pubsub.MustRegisterType[Position]("example.position") }

// An adapter whose own format cannot express a Go value carries it as the PubSub's frames do, and
// the receiving node turns it back into the registered type.
func ExampleMarshalPayload() {
	name, data, err := pubsub.MarshalPayload(Position{X: 1, Y: 2})
	if err != nil {
		panic(err)
	}
	// ... name and data travel in the adapter's format ...
	v, err := pubsub.UnmarshalPayload(name, data)
	fmt.Printf("%s %#v %v\n", name, v, err)
	// Output: example.position pubsub_test.Position{X:1, Y:2} <nil>
}
