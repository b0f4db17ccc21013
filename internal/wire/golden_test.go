package wire

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goldenKey signs the signed golden frames (docs/protocol.md quotes it).
var goldenKey = []byte("secret-key")

// goldenCases are the frames in testdata/golden: a change of format breaks TestGolden.
func goldenCases() []struct {
	name string
	e    Envelope
	key  []byte
} {
	s := sampleEnvelopes()
	signedBroadcast := s["broadcast"]
	signedBroadcast.Scope = "my_pubsub"
	return []struct {
		name string
		e    Envelope
		key  []byte
	}{
		{"broadcast-string", s["broadcast"], nil},
		{"broadcast-string-signed", signedBroadcast, goldenKey},
		{"broadcast-msgpack", s["broadcast-all-fields"], nil},
		{"broadcast-empty", s["broadcast-unsequenced-empty-payload"], nil},
		{"direct-bytes", s["direct"], nil},
		{"probe", s["probe"], nil},
		{"probe-signed", s["probe"], goldenKey},
	}
}

// describe is the comment line of a golden file.
func describe(e Envelope, key []byte) string {
	k := "none"
	if key != nil {
		k = fmt.Sprintf("%q", key)
	}
	return fmt.Sprintf("# kind=%v origin=%q incarnation=%x seq=%d time=%d target=%q topic=%q dispatcher=%q payload_type=%q payload=%x key=%s scope=%q",
		e.Kind, e.Origin, e.Incarnation, e.Seq, e.Time, e.Target, e.Topic, e.Dispatcher, e.PayloadType, e.Payload, k, e.Scope)
}

// hexLines formats b as hex, 32 bytes a line.
func hexLines(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(len(b), 32)
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	return sb.String()
}

// readGolden returns the comment line and the bytes of a golden file.
func readGolden(t *testing.T, path string) (comment string, frame []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to write it)", err)
	}
	var h strings.Builder
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			comment = line
			continue
		}
		h.WriteString(strings.Join(strings.Fields(line), ""))
	}
	frame, err = hex.DecodeString(h.String())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return comment, frame
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", c.name+".hex")
			if *update {
				out := describe(c.e, c.key) + "\n" + hexLines(mustAppend(t, c.e, c.key))
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			comment, frame := readGolden(t, path)
			if want := describe(c.e, c.key); comment != want {
				t.Errorf("comment line\n%s\nwant\n%s", comment, want)
			}
			var f Frame
			var err error
			if c.key != nil {
				f, err = DecodeSigned(string(frame), Limits{}, c.e.Scope, c.key)
			} else {
				f, err = Decode(string(frame), Limits{})
			}
			if err != nil {
				t.Fatalf("decoding the golden frame: %v", err)
			}
			checkFrame(t, f, c.e, c.key != nil)
			if got := mustAppend(t, c.e, c.key); !bytes.Equal(got, frame) {
				t.Errorf("encoding changed:\n got %x\nwant %x", got, frame)
			}
		})
	}
}

// TestProtocolDocExamples checks that every hex example in docs/protocol.md, marked
// <!-- golden: NAME -->, is the golden frame NAME, so the specification cannot drift from the code.
func TestProtocolDocExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- golden: ([a-z0-9-]+) -->\\s*```[a-z]*\\n(.*?)```")
	matches := re.FindAllStringSubmatch(string(doc), -1)
	if len(matches) == 0 {
		t.Fatal("docs/protocol.md has no <!-- golden: NAME --> example")
	}
	for _, m := range matches {
		_, want := readGolden(t, filepath.Join("testdata", "golden", m[1]+".hex"))
		var h strings.Builder
		for line := range strings.Lines(m[2]) {
			if i := strings.Index(line, "#"); i >= 0 {
				line = line[:i]
			}
			h.WriteString(strings.Join(strings.Fields(line), ""))
		}
		got, err := hex.DecodeString(h.String())
		if err != nil {
			t.Fatalf("example %s: %v", m[1], err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("example %s in docs/protocol.md:\n got %x\nwant %x", m[1], got, want)
		}
	}
}
