package wire

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// refCheck is an independent, plainly recursive statement of what CheckMsgpack accepts, for
// differential tests. Its recursion is bounded by maxDepth, so only call it with small depths.
func refCheck(b []byte, maxDepth int) bool {
	end, ok := refValue(b, 0, 0, max(maxDepth, 0))
	return ok && end == len(b)
}

func refValue(b []byte, pos, depth, maxDepth int) (int, bool) {
	be := func(n int) (uint64, bool) { // big-endian unsigned of n bytes at pos
		if len(b)-pos < n {
			return 0, false
		}
		var v uint64
		for _, c := range b[pos : pos+n] {
			v = v<<8 | uint64(c)
		}
		pos += n
		return v, true
	}
	skip := func(n uint64) (int, bool) {
		if n > uint64(len(b)-pos) {
			return 0, false
		}
		return pos + int(n), true
	}
	items := func(n uint64) (int, bool) {
		if depth >= maxDepth || n > uint64(len(b)-pos) {
			return 0, false
		}
		for range n {
			var ok bool
			if pos, ok = refValue(b, pos, depth+1, maxDepth); !ok {
				return 0, false
			}
		}
		return pos, true
	}
	if pos >= len(b) {
		return 0, false
	}
	c := b[pos]
	pos++
	switch {
	case c < 0x80 || c >= 0xe0:
		return pos, true
	case c < 0x90:
		return items(2 * uint64(c-0x80))
	case c < 0xa0:
		return items(uint64(c - 0x90))
	case c < 0xc0:
		return skip(uint64(c - 0xa0))
	}
	lengths := map[byte]int{0xc4: 1, 0xc5: 2, 0xc6: 4, 0xd9: 1, 0xda: 2, 0xdb: 4}
	exts := map[byte]int{0xc7: 1, 0xc8: 2, 0xc9: 4}
	fixed := map[byte]uint64{0xc0: 0, 0xc2: 0, 0xc3: 0, 0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8,
		0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8, 0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17}
	arrays := map[byte]int{0xdc: 2, 0xdd: 4}
	maps := map[byte]int{0xde: 2, 0xdf: 4}
	if n, ok := fixed[c]; ok {
		return skip(n)
	}
	if w, ok := lengths[c]; ok {
		n, ok := be(w)
		if !ok {
			return 0, false
		}
		return skip(n)
	}
	if w, ok := exts[c]; ok {
		n, ok := be(w)
		if !ok {
			return 0, false
		}
		return skip(n + 1)
	}
	if w, ok := arrays[c]; ok {
		n, ok := be(w)
		if !ok {
			return 0, false
		}
		return items(n)
	}
	if w, ok := maps[c]; ok {
		n, ok := be(w)
		if !ok {
			return 0, false
		}
		return items(2 * n)
	}
	return 0, false // 0xc1
}

// anyDecodable reports whether a value refCheck accepted is one msgpack decodes into an `any`: no ext
// values (it knows no ext ids but the timestamp's) and only string, binary or nil map keys.
func anyDecodable(b []byte) bool {
	var walk func(pos int, key bool) (int, bool)
	walk = func(pos int, key bool) (int, bool) {
		c := b[pos]
		if key && !(c >= 0xa0 && c <= 0xbf || c == 0xc0 || c >= 0xc4 && c <= 0xc6 || c >= 0xd9 && c <= 0xdb) {
			return 0, false
		}
		if c >= 0xc7 && c <= 0xc9 || c >= 0xd4 && c <= 0xd8 {
			return 0, false
		}
		be := func(n int) int {
			v := 0
			for _, x := range b[pos+1 : pos+1+n] {
				v = v<<8 | int(x)
			}
			return v
		}
		n, hdr, mapped := -1, 1, false
		switch {
		case c >= 0x80 && c <= 0x8f:
			n, mapped = int(c-0x80), true
		case c >= 0x90 && c <= 0x9f:
			n = int(c - 0x90)
		case c == 0xdc:
			n, hdr = be(2), 3
		case c == 0xdd:
			n, hdr = be(4), 5
		case c == 0xde:
			n, hdr, mapped = be(2), 3, true
		case c == 0xdf:
			n, hdr, mapped = be(4), 5, true
		}
		if n < 0 { // a scalar: refValue knows its size
			end, _ := refValue(b, pos, 0, 0)
			return end, true
		}
		pos += hdr
		for i := range n {
			var ok bool
			if mapped {
				if pos, ok = walk(pos, true); !ok {
					return 0, false
				}
			}
			if pos, ok = walk(pos, false); !ok {
				return 0, false
			}
			_ = i
		}
		return pos, true
	}
	_, ok := walk(0, false)
	return ok
}

type inner struct {
	Name  string
	Tags  []string
	Score float64
	Raw   []byte
	When  time.Time
	Attrs map[string]any
}

type outer struct {
	ID       uint64
	Neg      int64
	Small    int8
	F32      float32
	Inner    inner
	Children []inner
	Matrix   [][]int
	ByID     map[int]string
	Ptr      *inner
	Any      any
}

// validValues returns msgpack encodings covering every type byte but 0xc1 and every length form.
func validValues(t testing.TB) map[string][]byte {
	t.Helper()
	mustMarshal := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ext := func(id int8, n int) []byte {
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		if err := enc.EncodeExtHeader(id, n); err != nil {
			t.Fatal(err)
		}
		buf.Write(bytes.Repeat([]byte{0xee}, n))
		return buf.Bytes()
	}
	bigMap := map[string]int{}
	for i := range 70000 {
		bigMap[strings.Repeat("k", i%7)+string(rune('a'+i%26))+string(rune(i))] = i
	}
	v := map[string][]byte{
		"nil":        mustMarshal(nil),
		"true":       mustMarshal(true),
		"false":      mustMarshal(false),
		"fixint":     mustMarshal(7),
		"negfixint":  mustMarshal(-7),
		"uint8":      mustMarshal(uint8(200)),
		"uint16":     mustMarshal(uint16(60000)),
		"uint32":     mustMarshal(uint32(4e9)),
		"uint64":     mustMarshal(uint64(math.MaxUint64)),
		"int8":       mustMarshal(int8(-100)),
		"int16":      mustMarshal(int16(-30000)),
		"int32":      mustMarshal(int32(-2e9)),
		"int64":      mustMarshal(int64(math.MinInt64)),
		"float32":    mustMarshal(float32(1.5)),
		"float64":    mustMarshal(math.Pi),
		"fixstr":     mustMarshal("hello"),
		"str8":       mustMarshal(strings.Repeat("s", 200)),
		"str16":      mustMarshal(strings.Repeat("s", 60000)),
		"str32":      mustMarshal(strings.Repeat("s", 70000)),
		"emptystr":   mustMarshal(""),
		"bin8":       mustMarshal([]byte{1, 2, 3}),
		"bin16":      mustMarshal(make([]byte, 300)),
		"bin32":      mustMarshal(make([]byte, 70000)),
		"emptybin":   mustMarshal([]byte{}),
		"fixarray":   mustMarshal([]int{1, 2, 3}),
		"array16":    mustMarshal(make([]int, 16)),
		"array32":    mustMarshal(make([]bool, 70000)),
		"emptyarray": mustMarshal([]int{}),
		"fixmap":     mustMarshal(map[string]int{"a": 1}),
		"map16":      mustMarshal(map[string]int{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10, "k": 11, "l": 12, "m": 13, "n": 14, "o": 15, "p": 16}),
		"map32":      mustMarshal(bigMap),
		"emptymap":   mustMarshal(map[string]int{}),
		"fixext1":    ext(5, 1),
		"fixext2":    ext(5, 2),
		"fixext4":    ext(5, 4),
		"fixext8":    ext(5, 8),
		"fixext16":   ext(5, 16),
		"ext8":       ext(5, 3),
		"ext16":      ext(5, 300),
		"ext32":      ext(5, 70000),
		"time":       mustMarshal(time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)),
		"struct": mustMarshal(outer{ID: 1 << 40, Neg: -5, Small: -1, F32: 0.25,
			Inner: inner{Name: "x", Tags: []string{"a", "b"}, Score: 2.5, Raw: []byte{9}, When: time.Unix(1e9, 0),
				Attrs: map[string]any{"n": 1, "l": []any{1, "two", 3.0, nil, map[string]any{"deep": []any{[]any{}}}}}},
			Children: []inner{{Name: "c1"}, {Name: "c2", Tags: []string{}}},
			Matrix:   [][]int{{1, 2}, {}, {3}},
			ByID:     map[int]string{1: "one", -2: "minus two"},
			Any:      []any{map[string]any{"k": []byte("v")}},
		}),
	}
	return v
}

// nested returns d arrays nested around nil: [[[...nil...]]].
func nested(d int) []byte { return append(bytes.Repeat([]byte{0x91}, d), 0xc0) }

func TestCheckMsgpackValid(t *testing.T) {
	for name, b := range validValues(t) {
		if err := CheckMsgpack(b, DefaultMaxDepth); err != nil {
			t.Errorf("%s (% x...): %v", name, b[:min(len(b), 16)], err)
		}
		if err := CheckMsgpackString(string(b), DefaultMaxDepth); err != nil {
			t.Errorf("%s as a string: %v", name, err)
		}
		if !refCheck(b, DefaultMaxDepth) {
			t.Errorf("%s: the reference checker disagrees", name)
		}
	}
}

func TestCheckMsgpackAttacks(t *testing.T) {
	deep := nested(100000)
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"array32 of 4G", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, errMsgpackCount},
		{"map32 of 4G", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, errMsgpackCount},
		{"map32 of 2G pairs", []byte{0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0}, errMsgpackCount},
		{"array16 beyond", []byte{0xdc, 0x00, 0x03, 0xc0, 0xc0}, errMsgpackCount},
		{"map16 beyond", []byte{0xde, 0x00, 0x02, 0xc0, 0xc0, 0xc0}, errMsgpackCount},
		{"fixarray beyond", []byte{0x93, 0xc0, 0xc0}, errMsgpackCount},
		{"fixmap beyond", []byte{0x81, 0xc0}, errMsgpackCount},
		{"array32 in an array", []byte{0x92, 0x01, 0xdd, 0x7f, 0xff, 0xff, 0xff, 0x00}, errMsgpackCount},
		{"bin32 of 4G", []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 0x00}, errMsgpackLength},
		{"str32 of 4G", []byte{0xdb, 0xff, 0xff, 0xff, 0xff}, errMsgpackLength},
		{"ext32 of 4G", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, errMsgpackLength},
		{"ext32 one short", []byte{0xc9, 0x00, 0x00, 0x00, 0x01, 0x01}, errMsgpackLength},
		{"str16 beyond", []byte{0xda, 0x01, 0x00, 'x'}, errMsgpackLength},
		{"str8 beyond", []byte{0xd9, 0x02, 'x'}, errMsgpackLength},
		{"bin8 beyond", []byte{0xc4, 0x02, 'x'}, errMsgpackLength},
		{"fixstr beyond", []byte{0xa3, 'x'}, errMsgpackLength},
		{"ext8 without type", []byte{0xc7, 0x00}, errMsgpackLength},
		{"fixext16 short", append([]byte{0xd8, 0x01}, make([]byte, 15)...), errMsgpackLength},
		{"100000 nested fixarrays", deep, errMsgpackDepth},
		{"nested maps", bytes.Repeat([]byte{0x81, 0xa0}, 1000), errMsgpackDepth},
		{"reserved 0xc1", []byte{0xc1}, errMsgpackReserved},
		{"reserved in array", []byte{0x92, 0x01, 0xc1}, errMsgpackReserved},
		{"empty", nil, errMsgpackEmpty},
		{"truncated uint64", []byte{0xcf, 0, 0, 0}, errMsgpackLength},
		{"truncated length", []byte{0xc5, 0x01}, errMsgpackTruncated},
		{"truncated count", []byte{0xdd, 0x00, 0x00}, errMsgpackTruncated},
		{"truncated array", []byte{0x92, 0xcd, 0x01, 0x02}, errMsgpackTruncated},
		{"trailing byte", []byte{0x01, 0x02}, errMsgpackTrailing},
		{"two values", []byte{0x91, 0xc0, 0x91, 0xc0}, errMsgpackTrailing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := CheckMsgpack(tt.b, DefaultMaxDepth)
			if err != tt.want || !errors.Is(err, ErrMalformed) {
				t.Fatalf("CheckMsgpack: %v, want %v", err, tt.want)
			}
			if err2 := CheckMsgpackString(string(tt.b), DefaultMaxDepth); err2 != err {
				t.Errorf("CheckMsgpackString: %v, CheckMsgpack: %v", err2, err)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("took %v", d)
			}
			if len(tt.b) < 100 && refCheck(tt.b, DefaultMaxDepth) {
				t.Error("the reference checker accepts it")
			}
			if n := testing.AllocsPerRun(100, func() { _ = CheckMsgpack(tt.b, DefaultMaxDepth) }); n != 0 {
				t.Errorf("%v allocations to reject", n)
			}
			s := string(tt.b)
			if n := testing.AllocsPerRun(100, func() { _ = CheckMsgpackString(s, DefaultMaxDepth) }); n != 0 {
				t.Errorf("%v allocations to reject a string", n)
			}
		})
	}
}

// TestCheckMsgpackStopsEarly shows the deep-nesting attack is rejected after maxDepth+1 bytes, not
// after reading the input: the cost is independent of its length.
func TestCheckMsgpackStopsEarly(t *testing.T) {
	small, large := nested(1000), nested(1_000_000)
	measure := func(b []byte) time.Duration {
		r := testing.Benchmark(func(bb *testing.B) {
			for bb.Loop() {
				_ = CheckMsgpack(b, DefaultMaxDepth)
			}
		})
		return time.Duration(r.NsPerOp())
	}
	if s, l := measure(small), measure(large); l > 10*s+time.Microsecond {
		t.Errorf("1 000 000 nested arrays took %v to reject, 1000 took %v", l, s)
	}
}

func TestCheckMsgpackDepth(t *testing.T) {
	for _, d := range []int{0, 1, 2, 31, 32, 33, 63, 64, 65, 100, 1000} {
		b := nested(d)
		if err := CheckMsgpack(b, d); err != nil {
			t.Errorf("depth %d, maxDepth %d: %v", d, d, err)
		}
		if d > 0 {
			if err := CheckMsgpack(b, d-1); !errors.Is(err, ErrMalformed) {
				t.Errorf("depth %d, maxDepth %d: %v, want ErrMalformed", d, d-1, err)
			}
		}
	}
	// Empty containers count as a level too.
	if err := CheckMsgpack([]byte{0x90}, 0); err == nil {
		t.Error("[] accepted with maxDepth 0")
	}
	if err := CheckMsgpack([]byte{0x01}, -5); err != nil {
		t.Errorf("scalar with negative maxDepth: %v", err)
	}
	// maxDepth above MaxCheckDepth acts as MaxCheckDepth.
	if err := CheckMsgpack(nested(MaxCheckDepth), math.MaxInt); err != nil {
		t.Errorf("depth MaxCheckDepth: %v", err)
	}
	if err := CheckMsgpack(nested(MaxCheckDepth+1), math.MaxInt); !errors.Is(err, ErrMalformed) {
		t.Errorf("depth MaxCheckDepth+1 with maxDepth MaxInt: %v, want ErrMalformed", err)
	}
}

// TestCheckMsgpackShapes puts siblings after deep values, maps and arrays across the boundaries where
// the checker hands containers to a nested call, and compares with the reference checker.
func TestCheckMsgpackShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		b := randomValue(rng, 0, 80)
		for _, depth := range []int{0, 1, 5, 31, 32, 33, 40, 64, 65, 80} {
			got := CheckMsgpack(b, depth) == nil
			if want := refCheck(b, depth); got != want {
				t.Fatalf("value %d (% x), maxDepth %d: CheckMsgpack %v, reference %v", i, b, depth, got, want)
			}
		}
	}
}

// randomValue returns a random well-formed msgpack value at most maxDepth deep.
func randomValue(rng *rand.Rand, depth, maxDepth int) []byte {
	switch k := rng.IntN(10); {
	case k < 3 && depth < maxDepth: // deep chain
		n := rng.IntN(maxDepth-depth) + 1
		b := bytes.Repeat([]byte{0x91}, n)
		return append(b, randomValue(rng, depth+n, maxDepth)...)
	case k < 6 && depth < maxDepth: // array or map of a few
		n := rng.IntN(4)
		isMap := rng.IntN(2) == 0
		var b []byte
		switch rng.IntN(3) {
		case 0:
			b = []byte{0x90 | byte(n)}
			if isMap {
				b[0] = 0x80 | byte(n)
			}
		case 1:
			b = []byte{0xdc, 0, byte(n)}
			if isMap {
				b[0] = 0xde
			}
		default:
			b = []byte{0xdd, 0, 0, 0, byte(n)}
			if isMap {
				b[0] = 0xdf
			}
		}
		items := n
		if isMap {
			items *= 2
		}
		for range items {
			b = append(b, randomValue(rng, depth+1, maxDepth)...)
		}
		return b
	default:
		scalars := [][]byte{{0x05}, {0xff}, {0xc0}, {0xc3}, {0xa2, 'h', 'i'}, {0xc4, 0x01, 0x00}, {0xd9, 0x00},
			{0xcd, 1, 2}, {0xcb, 0, 0, 0, 0, 0, 0, 0, 0}, {0xd4, 1, 2}, {0xc7, 0x01, 0x05, 0x00}}
		return scalars[rng.IntN(len(scalars))]
	}
}

// TestCheckMsgpackPrefixes cuts valid values at every offset and mutates bytes: CheckMsgpack must
// agree with the reference checker, and what it accepts, msgpack must be able to skip exactly.
func TestCheckMsgpackPrefixes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for name, b := range validValues(t) {
		if len(b) > 400 {
			continue
		}
		for i := range len(b) {
			if err := CheckMsgpack(b[:i], DefaultMaxDepth); err == nil {
				t.Errorf("%s cut to %d of %d bytes accepted", name, i, len(b))
			}
		}
		for range 200 {
			m := bytes.Clone(b)
			m[rng.IntN(len(m))] = byte(rng.IntN(256))
			checkAgainstMsgpack(t, m)
		}
	}
}

// checkAgainstMsgpack states what CheckMsgpack promises about a value: the reference checker agrees
// with it, and a value it accepts is one msgpack's decoder skips exactly and decodes into an `any`
// (unless it holds an ext or a non-string map key, which the decoder refuses by design) without
// allocating more than a small multiple of its size.
func checkAgainstMsgpack(t testing.TB, b []byte) {
	t.Helper()
	err := CheckMsgpack(b, DefaultMaxDepth)
	if errS := CheckMsgpackString(string(b), DefaultMaxDepth); errS != err {
		t.Fatalf("% x: CheckMsgpack %v, CheckMsgpackString %v", b, err, errS)
	}
	for _, depth := range []int{DefaultMaxDepth, 3} {
		if got, want := CheckMsgpack(b, depth) == nil, refCheck(b, depth); got != want {
			t.Fatalf("% x, maxDepth %d: CheckMsgpack %v, reference %v", b, depth, got, want)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("% x: %v does not wrap ErrMalformed", b, err)
		}
		return
	}
	r := bytes.NewReader(b)
	if err := msgpack.NewDecoder(r).Skip(); err != nil || r.Len() != 0 {
		t.Fatalf("% x accepted, but msgpack's Skip says %v with %d bytes left", b, err, r.Len())
	}
	if len(b) > 1<<16 {
		return
	}
	var v any
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	// The runtime counts small allocations a span at a time, hence the slack: this bound is for
	// allocations sized by what the input declares (gigabytes), not for exact accounting.
	before := heapAllocs()
	err = dec.Decode(&v)
	if n, limit := heapAllocs()-before, 1<<20+256*uint64(len(b)); n > limit {
		t.Fatalf("% x accepted, and decoding its %d bytes allocated %d bytes (limit %d)", b, len(b), n, limit)
	}
	if err != nil && anyDecodable(b) {
		t.Fatalf("% x accepted, but msgpack cannot decode it into any: %v", b, err)
	}
}

// heapAllocs returns the bytes allocated on the heap so far by the process.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHeapAllocs checks that the allocation bound in checkAgainstMsgpack can see an allocation.
func TestHeapAllocs(t *testing.T) {
	before := heapAllocs()
	sink = make([]byte, 1<<20)
	if n := heapAllocs() - before; n < 1<<20 {
		t.Errorf("a 1 MiB allocation counted as %d bytes", n)
	}
	sink = nil
}

var sink []byte
