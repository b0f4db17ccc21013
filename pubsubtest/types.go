package pubsubtest

import "github.com/phxgo/pubsub"

// Payload types. The registered ones have names prefixed "pubsubtest." and are registered once per
// process, in init, so Run may be called any number of times.
type (
	// point is registered: it keeps its Go type across nodes.
	point struct {
		X, Y  int
		Label string
	}
	// plain has point's shape but is not registered: it travels as a pubsub.Encoded.
	plain struct {
		X, Y  int
		Label string
	}
	// seq numbers the messages of one broadcaster (Src) so that order and loss can be checked.
	seq struct {
		Src, N int
	}
	// ping is the readiness sentinel (see cluster.awaitReady).
	ping struct {
		From   int
		Direct bool
		Round  int
	}
)

func init() {
	pubsub.MustRegisterType[point]("pubsubtest.point")
	pubsub.MustRegisterType[seq]("pubsubtest.seq")
	pubsub.MustRegisterType[ping]("pubsubtest.ping")
}
