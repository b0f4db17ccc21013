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

// faultEnv tells a child test process which fault TestBrokenHub gives its hub.
const faultEnv = "PUBSUBTEST_HUB_FAULT"

// TestBrokenHub runs the suite on a faulty hub. It runs only in the child processes that
// TestSuiteCatchesBrokenAdapters starts, and is meant to fail there.
func TestBrokenHub(t *testing.T) {
	fault := hubFault(os.Getenv(faultEnv))
	if fault == faultNone {
		t.Skip("runs only in the child processes of TestSuiteCatchesBrokenAdapters")
	}
	// 3 s rather than 1 s: the child runs 32 checks in parallel under -race on a loaded CI machine, and a
	// hub whose fault the PubSub masks must pass every check there (ManyBroadcasters once took over 1 s).
	pubsubtest.Run(t, hubFactory(fault), pubsubtest.Features{Nodes: 3, DeliveryTimeout: 3 * time.Second})
}

// TestSuiteCatchesBrokenAdapters checks that the suite fails adapters that break the Adapter contract
// in ways package pubsub cannot mask, and that the right checks say so.
func TestSuiteCatchesBrokenAdapters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, tc := range []struct {
		fault  hubFault
		groups string   // the groups to run, a -test.run pattern
		fail   []string // checks that must fail; none: the suite must pass (the PubSub masks the fault)
	}{
		// A transport that delivers every frame twice breaks contract sentence 5, but the PubSub drops
		// the second copy by its sequence number: subscribers see each message once.
		{faultDuplicate, "CrossNode|Ordering", nil},
		{faultReorder, "Ordering", []string{"Ordering/AcrossNodes"}},
		{faultDrop, "Ordering|Concurrency", []string{"Ordering/AcrossNodes", "Concurrency/ChurnWhileBroadcasting"}},
		{faultSilent, "CrossNode", []string{"CrossNode/BroadcastReachesEveryNodeOnce", "CrossNode/DispatcherNameTravels"}},
		{faultCloseAll, "CrossNode", []string{"CrossNode/CloseDoesNotDisturbOthers"}},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBrokenHub$/^("+tc.groups+")$", "-test.parallel=32")
			cmd.Env = append(os.Environ(), faultEnv+"="+string(tc.fault))
			out, err := cmd.CombinedOutput()
			if tc.fail == nil {
				if err != nil {
					t.Fatalf("the suite failed a hub with fault %q, which the PubSub masks:\n%s", tc.fault, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("the suite passed a hub with fault %q:\n%s", tc.fault, out)
			}
			for _, name := range tc.fail {
				if !strings.Contains(string(out), "--- FAIL: TestBrokenHub/"+name+" (") {
					t.Errorf("with fault %q, check %s did not fail:\n%s", tc.fault, name, out)
				}
			}
		})
	}
}
