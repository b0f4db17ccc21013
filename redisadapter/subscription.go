package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// subscription is the adapter's subscription to its two channels. The receiver's logic (the probe,
// kill, resubscription, gap reports) does not depend on which kind it is:
//
//   - rawSub, the adapter's own: a connection of its own, dialled as the go-redis client would dial
//     it, read with respReader. No allocation for a frame that is dropped (an echo of this node's own,
//     one too large) and one (the copy handed to the PubSub) for a frame delivered.
//   - redisSub, go-redis's *redis.PubSub, for the clients and options rawSub does not support (see
//     rawOptions).
type subscription interface {
	// receive returns the next event. An event that is not owned aliases the subscription's buffers
	// and is valid until the next call.
	receive() (event, error)
	// ready ends the set-up: the subscription is confirmed, and from now on receive blocks for as long
	// as nothing arrives (whatever the set-up's context).
	ready(ctx context.Context) error
	// close closes the subscription, interrupting a receive in progress. It may be called more than
	// once and concurrently with receive.
	close()
	// command sends name (SUBSCRIBE, UNSUBSCRIBE, their sharded forms, or PING without channels) for
	// channels, in as many commands as maxChannelsPerCommand calls for; Redis's confirmations come
	// through receive. Called after ready, concurrently with receive.
	command(name string, channels []string) error
}

// openSubscription opens a subscription to channels, on the adapter's own connection when the client
// allows it (rawOptions), else with go-redis. ctx bounds the set-up (until ready).
func (a *Adapter) openSubscription(ctx context.Context, channels ...string) (subscription, error) {
	opt, err := rawOptions(ctx, a.client, channels[0])
	if err != nil {
		return nil, err
	}
	if opt != nil {
		return dialRaw(ctx, opt, a.cfg.MaxMessageSize, channels)
	}
	// The channels go with Subscribe (a Ring panics without them, and picks its shard by the first);
	// an error subscribing surfaces from the first receive.
	return redisSub{a.client.Subscribe(ctx, channels...)}, nil
}

// rawOptions returns the options of the client that go-redis would subscribe with to channel, or nil
// when the adapter cannot dial and set up the connection exactly as go-redis would: then the adapter
// falls back to go-redis's subscription. Supported: a *redis.Client (a plain client or a failover
// client: its Dialer resolves the current master) and a *redis.ClusterClient that reads from masters
// (the master of channel's slot, where go-redis subscribes). Not supported: any other client (a Ring,
// a client of the program's own type), a custom OnConnect (it would not run on the adapter's
// connection), a StreamingCredentialsProvider (it re-authenticates connections as go-redis keeps
// them), a cluster client with ReadOnly or routing by latency or at random (go-redis then subscribes on
// a replica).
func rawOptions(ctx context.Context, client redis.UniversalClient, channel string) (*redis.Options, error) {
	var opt *redis.Options
	switch c := client.(type) {
	case *redis.Client:
		opt = c.Options()
	case *redis.ClusterClient:
		if co := c.Options(); co.ReadOnly || co.RouteByLatency || co.RouteRandomly || co.OnConnect != nil ||
			co.StreamingCredentialsProvider != nil {
			return nil, nil
		}
		node, err := c.MasterForKey(ctx, channel)
		if err != nil {
			return nil, err
		}
		opt = node.Options()
	default:
		return nil, nil
	}
	if opt == nil || opt.Dialer == nil || opt.OnConnect != nil || opt.StreamingCredentialsProvider != nil {
		return nil, nil
	}
	return opt, nil
}

// redisSub is a go-redis subscription.
type redisSub struct{ sub *redis.PubSub }

func (s redisSub) receive() (event, error) {
	msg, err := s.sub.Receive(context.Background())
	if err != nil {
		return event{}, err
	}
	switch m := msg.(type) {
	case *redis.Message:
		return event{kind: evMessage, owned: true, size: len(m.Payload), channel: m.Channel, payload: m.Payload}, nil
	case *redis.Subscription:
		if m.Kind == "subscribe" {
			return event{kind: evSubscribed, owned: true, channel: m.Channel}, nil
		}
		if m.Kind == "unsubscribe" {
			return event{kind: evUnsubscribed, owned: true, channel: m.Channel}, nil
		}
	}
	return event{kind: evOther}, nil
}

func (s redisSub) ready(context.Context) error { return nil }
func (s redisSub) close()                      { s.sub.Close() }

func (s redisSub) command(name string, channels []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	switch name {
	case "SUBSCRIBE":
		return s.sub.Subscribe(ctx, channels...)
	case "UNSUBSCRIBE":
		return s.sub.Unsubscribe(ctx, channels...)
	case "PING":
		return s.sub.Ping(ctx)
	}
	return fmt.Errorf("redisadapter: %s on a go-redis subscription", name) // sharded: raw connections only
}

// commandTimeout bounds the write of commands on a subscription's connection.
const commandTimeout = 5 * time.Second

// rawSub is the adapter's own subscription connection.
type rawSub struct {
	conn      net.Conn
	rd        *respReader
	stopWatch func() bool // ends the set-up's watch of its context
	closeOnce sync.Once
	writeMu   sync.Mutex // serialises command
	wbuf      []byte     // command's buffer, under writeMu
}

// dialRaw dials a connection with opt's Dialer, authenticates as go-redis would (AUTH with the
// credentials of opt, CLIENT SETNAME with its ClientName), and subscribes to channels. The
// confirmations are left to read with receive; ctx bounds everything until ready.
func dialRaw(ctx context.Context, opt *redis.Options, maxPayload int, channels []string) (_ *rawSub, err error) {
	user, pass, err := credentials(ctx, opt)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	network := opt.Network
	if network == "" {
		network = "tcp"
	}
	conn, err := opt.Dialer(ctx, network, opt.Addr)
	if err != nil {
		return nil, err
	}
	s := &rawSub{conn: conn, rd: newRESPReader(socketReader(conn), maxPayload)}
	// The set-up's reads and writes end with ctx: at its deadline, or when it is canceled (Close).
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	s.stopWatch = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if err != nil {
			s.close()
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%w)", ctx.Err(), err)
			}
		}
	}()

	var cmds []byte
	replies := 0
	if pass != "" {
		if user != "" {
			cmds = appendCommand(cmds, "AUTH", user, pass)
		} else {
			cmds = appendCommand(cmds, "AUTH", pass)
		}
		replies++
	}
	if opt.ClientName != "" {
		cmds = appendCommand(cmds, "CLIENT", "SETNAME", opt.ClientName)
	}
	if len(channels) > 0 { // a sharded partition's connection subscribes later (SSUBSCRIBE)
		cmds = appendCommand(cmds, append([]string{"SUBSCRIBE"}, channels...)...)
	}
	if _, err := conn.Write(cmds); err != nil {
		return nil, err
	}
	if replies > 0 {
		if err := s.rd.reply(); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	if opt.ClientName != "" {
		// The name only labels the connection (CLIENT LIST): a user not allowed to set it still reads.
		if err := s.rd.reply(); err != nil && !isRedisError(err) {
			return nil, err
		}
	}
	return s, nil
}

// credentials returns the username and password of opt, as go-redis resolves them.
func credentials(ctx context.Context, opt *redis.Options) (user, pass string, err error) {
	switch {
	case opt.CredentialsProviderContext != nil:
		return opt.CredentialsProviderContext(ctx)
	case opt.CredentialsProvider != nil:
		user, pass = opt.CredentialsProvider()
		return user, pass, nil
	}
	return opt.Username, opt.Password, nil
}

func isRedisError(err error) bool {
	var re redisError
	return errors.As(err, &re)
}

// appendCommand appends args as a RESP2 command (an array of bulk strings).
func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

func (s *rawSub) receive() (event, error) { return s.rd.next() }

func (s *rawSub) ready(ctx context.Context) error {
	if !s.stopWatch() {
		return ctx.Err() // the watch has run, or is running: the set-up's context ended
	}
	return s.conn.SetDeadline(time.Time{})
}

func (s *rawSub) close() {
	s.closeOnce.Do(func() {
		s.stopWatch()
		s.conn.Close() // interrupts a blocked read
	})
}

func (s *rawSub) command(name string, channels []string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	b := s.wbuf[:0]
	args := make([]string, 0, 1+min(len(channels), maxChannelsPerCommand))
	if len(channels) == 0 {
		b = appendCommand(b, name) // PING
	}
	for len(channels) > 0 {
		n := min(len(channels), maxChannelsPerCommand)
		args = append(append(args[:0], name), channels[:n]...)
		b = appendCommand(b, args...)
		channels = channels[n:]
	}
	if cap(b) <= 64<<10 {
		s.wbuf = b
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(commandTimeout)); err != nil {
		return err
	}
	_, err := s.conn.Write(b)
	return err
}
