package pubsubtest

import (
	"os"
	"strings"
	"testing"
)

// TestContractQuotes checks that every sentence RunAdapter quotes is in pubsub.Adapter's documentation,
// word for word, under its number.
func TestContractQuotes(t *testing.T) {
	src, err := os.ReadFile("../adapter.go")
	if err != nil {
		t.Fatal(err)
	}
	// The numbered list of the contract, as one line per item, without comment markers.
	items := map[int]string{}
	n := 0
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(line, "//"))
		if len(line) > 2 && line[0] >= '1' && line[0] <= '9' && line[1] == '.' {
			n = int(line[0] - '0')
			line = line[2:]
		} else if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "pubsubtest checks") {
			n = 0
		}
		if n > 0 {
			items[n] += " " + strings.TrimSpace(line)
		}
	}
	if len(items) != 8 {
		t.Fatalf("found %d numbered sentences in ../adapter.go, want 8: %v", len(items), items)
	}
	for _, r := range contractRules {
		if !strings.Contains(items[r.n], r.text) {
			t.Errorf("%v is not in item %d of the contract: %q", r, r.n, items[r.n])
		}
	}
}
