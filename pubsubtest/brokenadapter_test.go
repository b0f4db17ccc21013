package pubsubtest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/pubsub/pubsubtest"
)

// adapterFaultEnv tells a child test process which fault TestBrokenHubAdapter gives its hub.
const adapterFaultEnv = "PUBSUBTEST_HUB_ADAPTER_FAULT"

// TestBrokenHubAdapter runs the adapter checks on a faulty hub. It runs only in the child processes
// that TestRunAdapterCatchesBrokenAdapters starts, and is meant to fail there.
func TestBrokenHubAdapter(t *testing.T) {
	fault := hubFault(os.Getenv(adapterFaultEnv))
	if fault == faultNone {
		t.Skip("runs only in the child processes of TestRunAdapterCatchesBrokenAdapters")
	}
	pubsubtest.RunAdapter(t, hubAdapterFactory(fault, false), pubsubtest.AdapterFeatures{
		Nodes: 3, DeliveryTimeout: time.Second, CloseTimeout: time.Second,
	})
}

// The contract's sentences, as RunAdapter quotes them.
const (
	sentenceOrder     = `contract 3 ("Frames whose calls do not overlap must reach every other node in the order of the calls")`
	sentenceBroadcast = `contract 2 ("Broadcast sends f.Bytes to every other node of the PubSub")`
	sentenceBytes     = `contract 2 ("f.Bytes and f.Payload are valid only until the call returns.")`
	sentenceAfterClos = `contract 8 ("No Host method is called after Close returns.")`
	sentenceOnce      = `contract 5 ("A frame must reach each receiver at most once per send")`
	sentenceStart     = `contract 1 ("Start returns once the adapter can send and receive, or with the reason it cannot.")`
)

// TestRunAdapterCatchesBrokenAdapters checks that RunAdapter fails adapters that break the contract, in
// the right checks, each naming the sentence broken.
func TestRunAdapterCatchesBrokenAdapters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, tc := range []struct {
		fault hubFault
		fail  map[string]string // check → the sentence its failure must quote
	}{
		{faultReorder, map[string]string{"Order/Sequential": sentenceOrder, "Broadcast/ReachesEveryOtherNodeOnce": sentenceOrder}},
		{faultSelfOnly, map[string]string{"Start/CarriesFramesBothWays": sentenceStart, "Broadcast/ReachesEveryOtherNodeOnce": sentenceBroadcast}},
		{faultKeepBytes, map[string]string{"Bytes/ValidOnlyUntilReturn": sentenceBytes}},
		{faultCloseLate, map[string]string{"Close/StopsDelivery": sentenceAfterClos}},
		{faultDuplicate, map[string]string{"Broadcast/ReachesEveryOtherNodeOnce": sentenceOnce}},
		{faultDrop, map[string]string{"Order/Sequential": sentenceBroadcast}},
		{faultCloseAll, map[string]string{"Close/OthersKeepWorking": sentenceBroadcast}},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			t.Parallel()
			var run []string
			for name := range tc.fail {
				run = append(run, name)
			}
			out, err := runBrokenHubAdapter(t, tc.fault, run)
			if err == nil {
				t.Fatalf("RunAdapter passed a hub with fault %q:\n%s", tc.fault, out)
			}
			for name, sentence := range tc.fail {
				block, ok := failureOf(out, "TestBrokenHubAdapter/"+name)
				switch {
				case !ok:
					t.Errorf("with fault %q, check %s did not fail:\n%s", tc.fault, name, out)
				case !strings.Contains(block, sentence):
					t.Errorf("with fault %q, check %s failed without quoting %s:\n%s", tc.fault, name, sentence, block)
				}
			}
		})
	}
}

// runBrokenHubAdapter runs the checks named (Subject/Check) of TestBrokenHubAdapter in a child process
// whose hub has fault, and returns its output.
func runBrokenHubAdapter(t *testing.T, fault hubFault, checks []string) (string, error) {
	subjects, names := map[string]bool{}, map[string]bool{}
	for _, c := range checks {
		subject, name, _ := strings.Cut(c, "/")
		subjects[subject], names[name] = true, true
	}
	pattern := "^TestBrokenHubAdapter$/^(" + alternatives(subjects) + ")$/^(" + alternatives(names) + ")$"
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+pattern, "-test.parallel=32")
	cmd.Env = append(os.Environ(), adapterFaultEnv+"="+string(fault))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func alternatives(set map[string]bool) string {
	var alts []string
	for s := range set {
		alts = append(alts, s)
	}
	return strings.Join(alts, "|")
}

// failureOf returns the failure report of test name in out: its --- FAIL line and the lines indented
// under it.
func failureOf(out, name string) (string, bool) {
	start := strings.Index(out, "--- FAIL: "+name+" (")
	if start < 0 {
		return "", false
	}
	lines := strings.SplitAfter(out[start:], "\n")
	block := lines[0]
	indent := len(lines[0]) - len(strings.TrimLeft(lines[0], " "))
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" || len(l)-len(strings.TrimLeft(l, " ")) <= indent {
			break
		}
		block += l
	}
	return block, true
}
