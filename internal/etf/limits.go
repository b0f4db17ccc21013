package etf

// Limits bound what Decode accepts. The zero value of each field means its default.
type Limits struct {
	// MaxSize is the largest term, in bytes, that Decode reads: the input itself, and for a compressed
	// term its declared and actual inflated size. Default DefaultMaxSize.
	MaxSize int
	// MaxDepth is how deeply lists, tuples and maps may nest. Default DefaultMaxDepth.
	MaxDepth int
	// MaxAtoms is how many atoms (true, false and nil included) one term may hold. Default
	// DefaultMaxAtoms.
	MaxAtoms int
}

// The defaults of Limits.
const (
	DefaultMaxSize  = 8 << 20
	DefaultMaxDepth = 100
	DefaultMaxAtoms = 1 << 16
)

// maxAtomChars is Erlang's limit on an atom's length, in characters.
const maxAtomChars = 255

// maxBigBytes bounds a bignum's magnitude (32,768 bits): far beyond any integer an application sends,
// small enough that converting it costs nothing.
const maxBigBytes = 4096

// maxRefWords is the most words a reference's ID has (OTP 26 writes up to 5).
const maxRefWords = 5

func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxAtoms <= 0 {
		l.MaxAtoms = DefaultMaxAtoms
	}
	return l
}
