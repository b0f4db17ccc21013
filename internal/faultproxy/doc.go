// Package faultproxy is a small TCP proxy for fault-injection tests: put it between a client and a
// server, then make the network misbehave on command.
//
//	p, err := faultproxy.New("127.0.0.1:0", redisAddr)
//	defer p.Close()
//	// connect the client to p.Addr() instead of redisAddr, then:
//	p.Blackhole(true)        // a partition: nothing moves, nobody is told
//	p.Blackhole(false)       // healed: what was held back flows on
//	p.BlackholeReplies(true) // one way: requests arrive and are carried out, answers do not come back
//	p.BlackholeLive()        // the connections open now go silent for good; new ones work
//	p.CutAll()               // reset every live connection
//
// A black hole is the fault TCP clients cannot see: the connection stays open, writes succeed (until
// the socket buffers fill), and nothing arrives. The proxy holds the bytes it has read instead of
// dropping them, and holds closes too, so the ends see what a real partition shows them: silence,
// then back-pressure. Only a timeout or an application-level probe notices.
//
// The package uses only the standard library. Close stops every goroutine it started and waits for
// them, so tests that check for leaked goroutines (go.uber.org/goleak) stay clean.
package faultproxy
