package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/phxgo/pubsub/internal/wire"
	"github.com/phxgo/pubsub/phoenixadapter"
)

const (
	// tailIdle is how long tail waits in silence before it pings Redis on its subscription, and then
	// for the answer before it replaces a connection that is open but dead.
	tailIdle = 5 * time.Second
	// tailNoteEvery bounds the notes about bad frames and lost connections on standard error.
	tailNoteEvery = 5 * time.Second
	// tailTextMax cuts long payloads in the text output (not in --json).
	tailTextMax = 2000
)

func tailUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage:\n  pubsub tail --redis URL --name NAME [flags] TOPIC...")
	fmt.Fprintln(w, "\nTail prints each broadcast of the PubSub NAME on the given topics as it arrives: the topic, the")
	fmt.Fprintln(w, "node it came from, its payload type and its payload. It reads the PubSub's broadcast channel on")
	fmt.Fprintln(w, "Redis directly (it is not a node: nobody sees it), so it also shows frames a node would drop.")
	fmt.Fprintln(w, "A TOPIC may contain '*', which matches any run of characters: '*' alone tails every topic.")
	fmt.Fprintln(w, "Direct broadcasts (to one node) travel on that node's channel and are not shown.")
	fmt.Fprintln(w, "\nPayloads are shown decoded: a string as text, a []byte in base64 (or hex), any other value")
	fmt.Fprintln(w, "(msgpack) as JSON. Frames that do not decode are counted and noted on standard error.")
	fmt.Fprintln(w, "Tail runs until it is interrupted (Ctrl-C), and then exits 0.")
	printFlags(w, fs)
	fmt.Fprintln(w, "\nExamples:")
	fmt.Fprintln(w, "  pubsub tail --redis redis://localhost:6379/0 --name chat 'room:*'")
	fmt.Fprintln(w, "  pubsub tail --redis redis://localhost:6379/0 --name chat --json '*' | jq .payload")
	fmt.Fprintln(w, "  pubsub tail --redis redis://localhost:6379/0 --phoenix MyApp.PubSub 'room:*'")
}

// runTail is "pubsub tail".
func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pubsub tail", flag.ContinueOnError)
	var rf redisFlags
	rf.register(fs, true)
	jsonOut := fs.Bool("json", false, `print one JSON object per line: {"topic","origin","type","payload"}`)
	bytesAs := fs.String("bytes", "base64", "show []byte payloads in `encoding` base64 or hex")
	secretEnv := fs.String("secret-env", "", "verify signatures with the secret in environment variable `VAR` (pubsub.Config.Secrets)")
	phoenix := fs.String("phoenix", "", "tail the Elixir application's Phoenix PubSub `NAME` (MyApp.PubSub) instead: phoenix_pubsub_redis 3.x frames; --name is not needed")
	topics, code, ok := parseArgs(fs, args, stdout, stderr, tailUsage)
	if !ok {
		return code
	}
	if *bytesAs != "base64" && *bytesAs != "hex" {
		return usageError(stderr, fs, "-bytes %q: want base64 or hex", *bytesAs)
	}
	target, ok := rf.target(stderr, fs.Name(), *phoenix == "")
	if !ok {
		return exitUsage
	}
	if len(topics) == 0 {
		return usageError(stderr, fs, "missing TOPIC (give one or more; '*' tails every topic)")
	}
	secret, err := secretFromEnv(*secretEnv)
	if err != nil {
		return usageError(stderr, fs, "%v", err)
	}
	t := &tailer{
		out:     stdout,
		errOut:  stderr,
		topics:  topics,
		json:    *jsonOut,
		bytesAs: *bytesAs,
		secret:  secret,
		channel: newChannelNames(rf.prefix, rf.name).broadcast(),
		name:    rf.name,
	}
	if *phoenix != "" {
		t.phoenix, t.name, t.channel = &phoenixTail{}, *phoenix, phoenixadapter.ChannelName(*phoenix)
	}
	if *jsonOut {
		t.enc = json.NewEncoder(stdout)
		t.enc.SetEscapeHTML(false)
	}
	return t.run(ctx, target)
}

// tailer reads one PubSub's broadcast channel and prints what it reads.
type tailer struct {
	out, errOut io.Writer
	topics      []string
	json        bool
	enc         *json.Encoder
	bytesAs     string
	secret      []byte
	channel     string
	name        string
	phoenix     *phoenixTail // with --phoenix: the channel carries Phoenix frames

	bad       uint64    // frames that could not be shown
	badNoted  uint64    // bad when the last note was printed
	lastNote  time.Time // of the last note about bad frames
	lostNoted time.Time // of the last note about a lost connection
}

func (t *tailer) run(ctx context.Context, target *redisTarget) int {
	rdb := target.client()
	defer rdb.Close()
	if code := target.reach(ctx, t.errOut, "tail", exitOK); code != exitOK {
		return code
	}

	// The subscription is closed when ctx ends, which interrupts a receive in progress (go-redis does
	// not watch the context of a blocked read).
	var mu sync.Mutex
	sub := rdb.Subscribe(ctx)
	current := sub
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		current.Close()
		mu.Unlock()
	})
	defer func() {
		stop()
		mu.Lock()
		current.Close()
		mu.Unlock()
	}()
	if err := t.subscribe(ctx, sub); err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		fmt.Fprintf(t.errOut, "pubsub tail: subscribe to %s on Redis at %s: %v\n", t.channel, target.addr(), err)
		return exitUsage
	}
	fmt.Fprintf(t.errOut, "pubsub tail: listening to PubSub %q on Redis at %s (%s); Ctrl-C to stop\n", t.name, target.addr(), strings.Join(t.topics, " "))

	pinged, lost := false, false
	backoff := 25 * time.Millisecond
	for {
		msg, err := sub.ReceiveTimeout(ctx, tailIdle)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout() && !pinged:
				pinged = true // quiet: make sure the connection is alive
				sub.Ping(ctx)
				continue
			case errors.As(err, &ne) && ne.Timeout():
				err = errors.New("no answer to a ping")
				// Open but dead: replace the subscription (go-redis would keep waiting on it).
				mu.Lock()
				if ctx.Err() == nil {
					current.Close()
					current = rdb.Subscribe(ctx, t.channel)
					sub = current
				}
				mu.Unlock()
			}
			pinged = false
			lost = true
			t.noteLost(err)
			// go-redis reconnects and resubscribes on the next receive.
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Message:
			t.handle(m.Payload)
		case *redis.Subscription:
			if lost && m.Kind == "subscribe" {
				lost, backoff = false, 25*time.Millisecond
				fmt.Fprintf(t.errOut, "pubsub tail: subscribed again; broadcasts sent meanwhile were not seen\n")
			}
		}
	}
	if t.bad > 0 {
		fmt.Fprintf(t.errOut, "pubsub tail: %s could not be shown\n", plural(t.bad, "bad frame"))
	}
	return exitOK
}

// subscribe subscribes sub to the broadcast channel and waits for Redis to confirm it.
func (t *tailer) subscribe(ctx context.Context, sub *redis.PubSub) error {
	if err := sub.Subscribe(ctx, t.channel); err != nil {
		return err
	}
	for {
		msg, err := sub.ReceiveTimeout(ctx, pingTimeout)
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == t.channel {
				return nil
			}
		case *redis.Message:
			t.handle(m.Payload)
		}
	}
}

// noteLost says, at a bounded rate, that the connection was lost.
func (t *tailer) noteLost(err error) {
	if now := time.Now(); now.Sub(t.lostNoted) >= tailNoteEvery {
		t.lostNoted = now
		fmt.Fprintf(t.errOut, "pubsub tail: connection to Redis lost (%v); resubscribing\n", err)
	}
}

// tailRecord is one line of --json output.
type tailRecord struct {
	Topic   string `json:"topic"`
	Origin  string `json:"origin"`
	Type    string `json:"type"`
	Payload any    `json:"payload"`
}

// handle decodes one message of the broadcast channel and prints it if its topic is tailed. It never
// panics on bad input: what cannot be decoded is counted and noted.
func (t *tailer) handle(payload string) {
	if t.phoenix != nil {
		t.phoenix.handle(t, payload)
		return
	}
	f, err := wire.DecodeSigned(payload, wire.Limits{MaxFrame: wire.MaxFrameLen}, t.name, t.secret)
	if err != nil {
		t.noteBad(err)
		return
	}
	if f.Kind != wire.KindBroadcast {
		t.noteBad(fmt.Errorf("a %s frame from %q on the broadcast channel", f.Kind, f.Origin))
		return
	}
	if !t.matches(f.Topic) {
		return
	}
	v, err := decodeTailPayload(f.PayloadType, f.Payload, t.bytesAs)
	if err != nil {
		t.noteBad(fmt.Errorf("topic %q from %q, type %q: %w", f.Topic, f.Origin, f.PayloadType, err))
		return
	}
	if t.json {
		if err := t.enc.Encode(tailRecord{Topic: f.Topic, Origin: f.Origin, Type: f.PayloadType, Payload: v}); err != nil {
			t.noteBad(fmt.Errorf("topic %q from %q: %w", f.Topic, f.Origin, err))
		}
		return
	}
	typ := f.PayloadType
	if typ == "" {
		typ = "unregistered"
	}
	fmt.Fprintf(t.out, "%s %s from %s (%s): %s\n", time.Now().Format("15:04:05.000"), f.Topic, f.Origin, typ, showPayload(f.PayloadType, v))
}

// showPayload formats a decoded payload for the text output.
func showPayload(typ string, v any) string {
	var s string
	switch {
	case typ == wire.TypeBytes:
		s = v.(string)
	case typ == wire.TypeString:
		s = fmt.Sprintf("%q", v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			s = fmt.Sprint(v)
		} else {
			s = string(b)
		}
	}
	if len(s) > tailTextMax {
		cut := tailTextMax
		for cut > 0 && !utf8.RuneStart(s[cut]) { // do not split a character
			cut--
		}
		s = fmt.Sprintf("%s… (%d bytes shown of %d)", s[:cut], cut, len(s))
	}
	return s
}

// noteBad counts a frame that cannot be shown and says so on standard error, at most once per
// tailNoteEvery (with how many were not noted in between).
func (t *tailer) noteBad(err error) {
	t.bad++
	now := time.Now()
	if !t.lastNote.IsZero() && now.Sub(t.lastNote) < tailNoteEvery {
		return
	}
	more := ""
	if n := t.bad - t.badNoted - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more since the last note)", n)
	}
	t.lastNote, t.badNoted = now, t.bad
	fmt.Fprintf(t.errOut, "pubsub tail: cannot show a frame: %v%s\n", err, more)
}

// matches reports whether topic matches one of the tailed patterns.
func (t *tailer) matches(topic string) bool {
	for _, p := range t.topics {
		if globMatch(p, topic) {
			return true
		}
	}
	return false
}

// globMatch matches s against pattern, in which '*' matches any run of bytes (and nothing else is
// special).
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// decodeTailPayload decodes a payload for display: a string as itself, a []byte encoded as bytesAs
// ("base64" or "hex"), anything else (msgpack) into plain values whose map keys are strings, after
// wire.CheckMsgpackString has proved it safe to decode.
func decodeTailPayload(typ, payload, bytesAs string) (any, error) {
	switch typ {
	case wire.TypeString:
		return payload, nil
	case wire.TypeBytes:
		return encodeBytes([]byte(payload), bytesAs), nil
	}
	if err := wire.CheckMsgpackString(payload, wire.DefaultMaxDepth); err != nil {
		return nil, err
	}
	dec := msgpack.NewDecoder(strings.NewReader(payload))
	dec.SetMapDecoder(decodeStringKeyMap)
	v, err := dec.DecodeInterface()
	if err != nil {
		return nil, fmt.Errorf("msgpack: %w", err)
	}
	return plainValue(v, bytesAs), nil
}

// decodeStringKeyMap decodes a msgpack map into a map[string]any whatever its keys (msgpack allows any
// value as a key; JSON does not). Keys that are not strings are formatted with fmt.
func decodeStringKeyMap(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n == -1 {
		return nil, err
	}
	m := make(map[string]any, n)
	for range n {
		k, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		v, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		ks, ok := k.(string)
		if !ok {
			ks = fmt.Sprint(plainValue(k, "base64"))
		}
		m[ks] = v
	}
	return m, nil
}

// plainValue makes a decoded msgpack value printable as JSON: bytes become text, times RFC 3339 text,
// and floats JSON cannot hold (NaN, ±Inf) their names.
func plainValue(v any, bytesAs string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = plainValue(e, bytesAs)
		}
	case []any:
		for i, e := range x {
			x[i] = plainValue(e, bytesAs)
		}
	case []byte:
		return encodeBytes(x, bytesAs)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Sprint(x)
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
	}
	return v
}

func encodeBytes(b []byte, bytesAs string) string {
	if bytesAs == "hex" {
		return hex.EncodeToString(b)
	}
	return base64.StdEncoding.EncodeToString(b)
}
