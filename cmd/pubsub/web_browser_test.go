package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser test drives headless Chromium over the DevTools protocol (chromedp). It is skipped when no
// Chromium is installed, and fails instead when PHXGO_BROWSER_REQUIRED=1 (as .ci/run sets): then a
// browser that is missing or does not start is a failure. PHXGO_CHROMIUM names the binary to use;
// otherwise the first of chromium, chromium-browser, google-chrome, google-chrome-stable on the PATH.
// Screenshots of the open pages are saved when the test fails, in PHXGO_ARTIFACTS if set, else in a
// new temporary directory, named in the log.

// browserWait bounds each wait for the pages to show something: deliveries take milliseconds, the bound
// is for a busy CI machine running the race detector.
const browserWait = 20 * time.Second

func chromiumPath() string {
	if p := os.Getenv("PHXGO_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserUnavailable skips the test, or fails it when PHXGO_BROWSER_REQUIRED=1.
func browserUnavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("PHXGO_BROWSER_REQUIRED") == "1" {
		t.Fatalf("%s, and PHXGO_BROWSER_REQUIRED=1: the browser test must run", msg)
	}
	t.Skipf("%s: install Debian's chromium (apt-get install chromium) or set PHXGO_CHROMIUM to run the browser test", msg)
}

// page is one browser tab showing the demo.
type page struct {
	name   string
	ctx    context.Context
	closed bool
}

// run runs actions in the tab, failing the test with what was being done.
func (p *page) run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// await evaluates js (an expression giving a string) in the tab until it gives want, or fails the test.
func (p *page) await(t *testing.T, what, js, want string) {
	t.Helper()
	deadline := time.Now().Add(browserWait)
	var got string
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		got, err = chromedp.Run(ctx, chromedp.Evaluate[string](js))
		cancel()
		if err == nil && got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %s: got %q (err %v), want %q", p.name, what, got, err, want)
}

// The page's state, as the test reads it: who is online (user@nodes, sorted by user) and the messages.
const (
	jsPresence = `[...document.querySelectorAll("#presence li")].map(li => li.dataset.user + "@" + li.dataset.nodes).join(" ")`
	jsMessages = `[...document.querySelectorAll("#messages li[data-user]")].map(li => li.dataset.user + ": " + li.dataset.body).join("\n")`
	jsStatus   = `document.getElementById("status").dataset.state`
)

// TestWebDemoInBrowser opens the demo in headless Chromium: alice on node-a and bob on node-b join,
// see each other present, exchange messages that both pages show; bob closes his page and alice sees
// him leave.
func TestWebDemoInBrowser(t *testing.T) {
	chrome := chromiumPath()
	if chrome == "" {
		browserUnavailable(t, "no Chromium found (chromium, chromium-browser, google-chrome; PHXGO_CHROMIUM)")
	}
	demo := startWebDemo(t, "--nodes", "2")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1000, 700),
	)
	// Without its sandbox: Chromium refuses to run as root with it, and containers (CI) often lack the
	// user namespaces it needs. The browser only loads the demo's own page.
	opts = append(opts, chromedp.NoSandbox)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(browserCtx, 10*time.Second)
		defer cancel()
		chromedp.Cancel(ctx) // closes the browser gracefully
		cancelBrowser()
	})
	// The first action on a context starts its browser or tab, which lives as long as that context: so
	// it runs on the context itself, and a timer cancels the context if it takes too long.
	start := func(ctx context.Context, cancel context.CancelFunc) error {
		timer := time.AfterFunc(60*time.Second, cancel)
		defer timer.Stop()
		return chromedp.Do(ctx)
	}
	if err := start(browserCtx, cancelBrowser); err != nil { // the browser, with a first tab
		browserUnavailable(t, "Chromium (%s) did not start: %v", chrome, err)
	}
	alice := &page{name: "alice's page on node-a", ctx: browserCtx}
	bobCtx, cancelBob := chromedp.NewContext(browserCtx) // a second tab
	t.Cleanup(cancelBob)
	if err := start(bobCtx, cancelBob); err != nil {
		t.Fatalf("a second tab: %v", err)
	}
	bob := &page{name: "bob's page on node-b", ctx: bobCtx}
	t.Cleanup(func() { screenshotsOnFailure(t, alice, bob) }) // runs before the tabs close

	join := func(p *page, node, user string) {
		url := demo.urls[node]
		t.Helper()
		p.run(t, "open "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#name")))
		p.await(t, "the page names its node", `document.getElementById("node").textContent`, node)
		p.run(t, "join as "+user,
			chromedp.SendKeys(chromedp.CSS("#name"), user),
			chromedp.Click(chromedp.CSS("#join")),
			chromedp.WaitVisible(chromedp.CSS("#body")))
		p.await(t, "connected", jsStatus, "open")
	}
	join(alice, "node-a", "alice")
	join(bob, "node-b", "bob")

	both := "alice@node-a bob@node-b"
	alice.await(t, "bob appears in alice's presence list", jsPresence, both)
	bob.await(t, "bob's presence list", jsPresence, both)

	send := func(p *page, body string) {
		t.Helper()
		p.run(t, "send "+body,
			chromedp.SendKeys(chromedp.CSS("#body"), body),
			chromedp.Click(chromedp.CSS("#send")))
	}
	send(bob, "hello from node-b")
	alice.await(t, "bob's message on alice's page", jsMessages, "bob: hello from node-b")
	bob.await(t, "bob's message on his own page", jsMessages, "bob: hello from node-b")
	send(alice, "hi bob, this is node-a")
	want := "bob: hello from node-b\nalice: hi bob, this is node-a"
	bob.await(t, "alice's reply on bob's page", jsMessages, want)
	alice.await(t, "alice's reply on her page", jsMessages, want)

	// Bob closes his page: the browser closes its WebSocket, node-b untracks him, and node-a tells alice.
	if err := chromedp.Cancel(bobCtx); err != nil {
		t.Fatalf("closing bob's page: %v", err)
	}
	bob.closed = true
	alice.await(t, "bob leaves alice's presence list", jsPresence, "alice@node-a")
	alice.await(t, "alice is still connected", jsStatus, "open")

	demo.stop()
	alice.await(t, "alice's page sees the node go away", jsStatus, "closed")
}

// screenshotsOnFailure saves a screenshot of each open page if the test failed.
func screenshotsOnFailure(t *testing.T, pages ...*page) {
	if !t.Failed() {
		return
	}
	dir := os.Getenv("PHXGO_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "phxgo-artifacts-"); err != nil {
			t.Logf("no screenshots: %v", err)
			return
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("no screenshots: %v", err)
		return
	}
	unsafe := regexp.MustCompile(`[^A-Za-z0-9_-]+`)
	for i, p := range pages {
		if p.closed {
			continue
		}
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Logf("screenshot of %s: %v", p.name, err)
			continue
		}
		file := filepath.Join(dir, fmt.Sprintf("%s-%d-%s.png", unsafe.ReplaceAllString(t.Name(), "_"), i+1, unsafe.ReplaceAllString(p.name, "_")))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Logf("screenshot of %s: %v", p.name, err)
			continue
		}
		t.Logf("screenshot of %s: %s", p.name, file)
	}
}
