package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/phxgo/pubsub/internal/etf"
	"github.com/phxgo/pubsub/phoenixadapter"
)

// The Phoenix side of the command line (--phoenix): reading and writing phoenix_pubsub_redis 3.x
// frames of an Elixir application's PubSub.

// inspect formats a decoded Elixir term as Elixir prints it (inspect/1), for the text output of tail.
func inspect(v any) string {
	var b strings.Builder
	inspectTo(&b, v)
	return b.String()
}

func inspectTo(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("nil")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case *big.Int:
		b.WriteString(x.String())
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case string:
		b.WriteString(strconv.Quote(x))
	case etf.Atom:
		b.WriteString(inspectAtom(x))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			inspectTo(b, e)
		}
		b.WriteByte(']')
	case etf.ImproperList:
		b.WriteByte('[')
		for i, e := range x.Elems {
			if i > 0 {
				b.WriteString(", ")
			}
			inspectTo(b, e)
		}
		b.WriteString(" | ")
		inspectTo(b, x.Tail)
		b.WriteByte(']')
	case etf.Tuple:
		b.WriteByte('{')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			inspectTo(b, e)
		}
		b.WriteByte('}')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("%{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(k))
			b.WriteString(" => ")
			inspectTo(b, x[k])
		}
		b.WriteByte('}')
	case etf.Map:
		b.WriteString("%{")
		for i, p := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			inspectTo(b, p.Key)
			b.WriteString(" => ")
			inspectTo(b, p.Value)
		}
		b.WriteByte('}')
	case phoenixadapter.SocketBroadcast:
		fmt.Fprintf(b, "%%Phoenix.Socket.Broadcast{topic: %q, event: %q, payload: ", x.Topic, x.Event)
		inspectTo(b, x.Payload)
		b.WriteByte('}')
	case etf.BitBinary:
		fmt.Fprintf(b, "<<%d bytes, %d bits in the last>>", len(x.Data), x.Bits)
	case etf.Pid:
		fmt.Fprintf(b, "#PID<%s.%d.%d>", x.Node, x.ID, x.Serial)
	case etf.Ref:
		fmt.Fprintf(b, "#Reference<%s", x.Node) // the words as Erlang prints them: most significant first
		for i := len(x.ID) - 1; i >= 0; i-- {
			fmt.Fprintf(b, ".%d", x.ID[i])
		}
		b.WriteByte('>')
	default:
		fmt.Fprintf(b, "%v", x)
	}
}

// inspectAtom writes an atom as Elixir does: :ok, :"a@host", Some.Module.
func inspectAtom(a etf.Atom) string {
	s := string(a)
	if strings.HasPrefix(s, "Elixir.") {
		return strings.TrimPrefix(s, "Elixir.")
	}
	plain := s != ""
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '@')) {
			plain = false
			break
		}
	}
	if plain {
		return ":" + s
	}
	return ":" + strconv.Quote(s)
}

// jsonValue turns a decoded Elixir term into a value encoding/json can write, as the phoenix-peer's
// JSON does: maps with atom keys as objects keyed by name, a %Phoenix.Socket.Broadcast{} as an object
// with "__struct__", anything JSON cannot hold (atoms, tuples, pids) as its inspect string.
func jsonValue(v any) any {
	switch x := v.(type) {
	case nil, bool, int64, float64, string:
		return x
	case *big.Int:
		return json.Number(x.String())
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	case etf.Map:
		out := make(map[string]any, len(x))
		for _, p := range x {
			k, ok := p.Key.(etf.Atom)
			if !ok {
				return inspect(x)
			}
			out[string(k)] = jsonValue(p.Value)
		}
		return out
	case phoenixadapter.SocketBroadcast:
		return map[string]any{"__struct__": "Phoenix.Socket.Broadcast", "topic": x.Topic, "event": x.Event, "payload": jsonValue(x.Payload)}
	}
	return inspect(v)
}

// parseJSONPayload reads a JSON payload for publish --json: objects become maps with binary keys,
// integers int64 (or big integers), other numbers float64, null nil.
func parseJSONPayload(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the payload is not JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("the payload is not one JSON value")
	}
	return fromJSON(v)
}

func fromJSON(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		if n, ok := new(big.Int).SetString(string(x), 10); ok {
			return n, nil
		}
		return x.Float64()
	case []any:
		for i, e := range x {
			var err error
			if x[i], err = fromJSON(e); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k, e := range x {
			var err error
			if x[k], err = fromJSON(e); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// compactJSON writes v as JSON on one line, without escaping HTML.
func compactJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
