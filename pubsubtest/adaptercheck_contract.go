package pubsubtest

import (
	"fmt"
	"testing"
)

// sentence is one rule of the Adapter contract, numbered and quoted as pubsub.Adapter's documentation
// states it (TestContractQuotes keeps the quotes exact). A check that finds a rule broken starts its
// failure message with the sentence, as testing/slogtest does, so that an adapter's author reads which
// rule their adapter broke before what the suite saw.
type sentence struct {
	n    int
	text string
}

func (c sentence) String() string { return fmt.Sprintf("contract %d (%q)", c.n, c.text) }

// The sentences RunAdapter checks.
var (
	ruleStartOnce        = sentence{1, "Start is called once, by New, before any other method"}
	ruleStartReady       = sentence{1, "Start returns once the adapter can send and receive, or with the reason it cannot."}
	ruleHandsFrames      = sentence{1, "from then on, hands every frame that arrives from another node to host.HandleFrame"}
	ruleReportsGaps      = sentence{1, "reports every moment when frames may have been lost in the transport (a reconnect, a subscription that died) to host.HandleGap"}
	ruleCloseAlways      = sentence{1, "calls Close exactly once in every outcome: after a failed Start, after a Config error (without Start), or from PubSub.Close"}
	ruleBroadcast        = sentence{2, "Broadcast sends f.Bytes to every other node of the PubSub"}
	ruleDirect           = sentence{2, "DirectBroadcast sends them to the node named node only"}
	ruleUnknownNode      = sentence{2, "A node nobody runs receives nothing, and that is not an error."}
	ruleBytesValid       = sentence{2, "f.Bytes and f.Payload are valid only until the call returns."}
	ruleConcurrent       = sentence{3, "Both may be called concurrently from many goroutines."}
	ruleOrder            = sentence{3, "Frames whose calls do not overlap must reach every other node in the order of the calls"}
	ruleAccepted         = sentence{4, "Both return nil once the transport has accepted the frame, or an error"}
	ruleCtxEnds          = sentence{4, "Both must return once ctx ends, whatever the state of the transport."}
	ruleAtMostOnce       = sentence{5, "A frame must reach each receiver at most once per send"}
	ruleNodeName         = sentence{7, "NodeName is constant and available before Start."}
	ruleCloseBounded     = sentence{8, "Close stops every goroutine the adapter started, releases what it holds, returns once they are gone, and is bounded in time even when the transport is not answering."}
	ruleNoHostAfterClose = sentence{8, "No Host method is called after Close returns."}
)

// contractRules lists every sentence above, for TestContractQuotes.
var contractRules = []sentence{
	ruleStartOnce, ruleStartReady, ruleHandsFrames, ruleReportsGaps, ruleCloseAlways, ruleBroadcast,
	ruleDirect, ruleUnknownNode, ruleBytesValid, ruleConcurrent, ruleOrder, ruleAccepted, ruleCtxEnds,
	ruleAtMostOnce, ruleNodeName, ruleCloseBounded, ruleNoHostAfterClose,
}

// broke fails t (without stopping it) with the sentence r and what happened.
func broke(t testing.TB, r sentence, format string, args ...any) {
	t.Helper()
	t.Errorf("%v: %s", r, fmt.Sprintf(format, args...))
}

// brokeFatal fails t with the sentence r and what happened, and stops the check.
func brokeFatal(t testing.TB, r sentence, format string, args ...any) {
	t.Helper()
	t.Fatalf("%v: %s", r, fmt.Sprintf(format, args...))
}
