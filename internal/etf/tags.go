package etf

// The tags of the external term format this package reads or writes
// (https://www.erlang.org/doc/apps/erts/erl_ext_dist.html).
const (
	version = 131

	tagNewFloat      = 70  // NEW_FLOAT_EXT: 8-byte IEEE 754 big-endian
	tagBitBinary     = 77  // BIT_BINARY_EXT: u32 length, u8 bits, data
	tagCompressed    = 80  // COMPRESSED_EXT: u32 uncompressed size, zlib stream
	tagNewPid        = 88  // NEW_PID_EXT: node, u32 id, u32 serial, u32 creation
	tagNewerRef      = 90  // NEWER_REFERENCE_EXT: u16 len, node, u32 creation, len × u32
	tagSmallInteger  = 97  // SMALL_INTEGER_EXT: u8
	tagInteger       = 98  // INTEGER_EXT: i32
	tagFloat         = 99  // FLOAT_EXT: 31-byte "%.20e" string
	tagAtom          = 100 // ATOM_EXT: u16 length, latin-1 (deprecated, what OTP 25 writes)
	tagPid           = 103 // PID_EXT: node, u32 id, u32 serial, u8 creation
	tagSmallTuple    = 104 // SMALL_TUPLE_EXT: u8 arity
	tagLargeTuple    = 105 // LARGE_TUPLE_EXT: u32 arity
	tagNil           = 106 // NIL_EXT: []
	tagString        = 107 // STRING_EXT: u16 length, bytes (a list of small integers)
	tagList          = 108 // LIST_EXT: u32 length, elements, tail
	tagBinary        = 109 // BINARY_EXT: u32 length, bytes
	tagSmallBig      = 110 // SMALL_BIG_EXT: u8 n, sign, n bytes little-endian
	tagLargeBig      = 111 // LARGE_BIG_EXT: u32 n, sign, n bytes little-endian
	tagNewRef        = 114 // NEW_REFERENCE_EXT: u16 len, node, u8 creation, len × u32
	tagSmallAtom     = 115 // SMALL_ATOM_EXT: u8 length, latin-1
	tagMap           = 116 // MAP_EXT: u32 arity, key, value, ...
	tagAtomUTF8      = 118 // ATOM_UTF8_EXT: u16 length, UTF-8
	tagSmallAtomUTF8 = 119 // SMALL_ATOM_UTF8_EXT: u8 length, UTF-8 (what OTP 26+ writes)
)
