package etf

// checkDuplicates returns ErrDuplicateKey if two keys of m are the same term. Keys are compared by
// their canonical encoding, which is the same for equal terms whatever encoding they came in (an atom
// as ATOM_EXT or SMALL_ATOM_UTF8_EXT, 1 bsl 40 as any bignum form), so the check costs one encoding of
// each key, never a comparison of every pair.
func checkDuplicates(m Map) error {
	if len(m) < 2 {
		return nil
	}
	if len(m) <= 8 && allAtomKeys(m) { // structs and small Elixir maps: nothing to encode
		for i := 1; i < len(m); i++ {
			for j := 0; j < i; j++ {
				if m[i].Key == m[j].Key {
					return ErrDuplicateKey
				}
			}
		}
		return nil
	}
	seen := make(map[string]struct{}, len(m))
	enc := Encoder{}
	var buf []byte
	for _, p := range m {
		var err error
		buf, err = enc.appendTerm(buf[:0], p.Key, 0)
		if err != nil {
			return err
		}
		if _, dup := seen[string(buf)]; dup {
			return ErrDuplicateKey
		}
		seen[string(buf)] = struct{}{}
	}
	return nil
}

func allAtomKeys(m Map) bool {
	for _, p := range m {
		if _, ok := p.Key.(Atom); !ok {
			return false
		}
	}
	return true
}
