package etf

import "unicode/utf8"

// The atoms that decode to Go's nil, true and false.
const (
	atomNil   Atom = "nil"
	atomTrue  Atom = "true"
	atomFalse Atom = "false"
)

// known holds atoms that arrive in nearly every Phoenix frame, so that decoding them allocates nothing.
var known = func() map[string]Atom {
	m := map[string]Atom{}
	for _, a := range []Atom{
		"except", "only", "Elixir.Phoenix.PubSub", "Elixir.Phoenix.Channel.Server",
		"Elixir.Phoenix.Socket.Broadcast", "__struct__", "topic", "event", "payload",
		"pub", "heartbeat", "transfer_req", "transfer_ack", "graceful_permdown", "empty",
		"ok", "error", "undefined", "metas", "phx_ref", "phx_ref_prev", "nil", "true", "false",
	} {
		m[string(a)] = a
	}
	return m
}()

// internAtom returns the atom with the UTF-8 text b, without allocating for a known atom.
func internAtom(b []byte) Atom {
	if len(b) <= 5 {
		switch string(b) { // the commonest, without hashing
		case "nil":
			return atomNil
		case "true":
			return atomTrue
		case "false":
			return atomFalse
		}
	}
	if a, ok := known[string(b)]; ok {
		return a
	}
	return Atom(b)
}

// latin1Atom returns the atom with the latin-1 text b.
func latin1Atom(b []byte) Atom {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			r := make([]rune, len(b))
			for i, c := range b {
				r[i] = rune(c)
			}
			return Atom(string(r))
		}
	}
	return internAtom(b)
}

// appendAtom writes atom a: as OTP 26+ does (SMALL_ATOM_UTF8_EXT, or ATOM_UTF8_EXT past 255 bytes),
// or, with legacy, as OTP 25 does (ATOM_EXT in latin-1 when every character is latin-1).
func appendAtom(dst []byte, a string, legacy bool) ([]byte, error) {
	n := utf8.RuneCountInString(a)
	if n > maxAtomChars || !utf8.ValidString(a) {
		return dst, ErrBadAtom
	}
	if legacy && isLatin1(a) {
		dst = append(dst, tagAtom, byte(n>>8), byte(n))
		for _, r := range a {
			dst = append(dst, byte(r))
		}
		return dst, nil
	}
	if len(a) <= 255 {
		dst = append(dst, tagSmallAtomUTF8, byte(len(a)))
	} else {
		dst = append(dst, tagAtomUTF8, byte(len(a)>>8), byte(len(a)))
	}
	return append(dst, a...), nil
}

func isLatin1(s string) bool {
	for _, r := range s {
		if r > 0xff {
			return false
		}
	}
	return true
}
