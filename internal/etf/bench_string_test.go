package etf

import "testing"

// BenchmarkDecodeStringMap10 is BenchmarkDecodeMap10 as phoenixadapter decodes: from the string go-redis
// hands over, whose bytes the binaries share (no copy of the frame).
func BenchmarkDecodeStringMap10(b *testing.B) {
	frame, _ := (&Encoder{}).Append(nil, typical())
	s := string(frame)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeString(s, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
