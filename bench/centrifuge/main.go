// Command centrifuge-bench compares github.com/phxgo/pubsub with github.com/centrifugal/centrifuge and
// with plain go-redis on one workload: node A publishes 100-byte payloads on one channel, node B (a
// separate instance with its own Redis connections, in the same process) counts what it receives.
// See README.md.
//
//	go run . -redis redis://127.0.0.1:7601/0 -dur 3s -reps 5
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	topic   = "t"     // our topic
	channel = "bench" // centrifuge's channel
)

// pairConfig is what a library needs to start its two nodes.
type pairConfig struct {
	lib, url, id string
	mailbox      int    // B's buffer, in messages
	payload      any    // the payload boxed once, for APIs taking any
	payloadBytes []byte // the same bytes
}

// pair is node A and node B of one library.
type pair interface {
	publish() error // one message from A, waiting for it to be accepted as the library's API does
	counter() *counter
	diag() string // loss diagnostics
	close()
}

// looper is a pair that publishes with its own loop instead of conc goroutines calling publish.
type looper interface {
	publishLoop(conc int, stop *atomic.Bool, sent *atomic.Int64) error
}

type lib struct {
	name  string
	start func(pairConfig) (pair, error)
}

var libs = []lib{
	{"phxgo", startPhxgo},
	{"phxgo-routed", startPhxgoRouted},
	{"centrifuge", startCentrifuge},
	{"goredis", startGoredis},
	{"goredis-auto", startGoredisAuto},
}

// counter counts what B's consumer takes from its buffer; bad counts payloads of the wrong size.
type counter struct {
	n   atomic.Int64
	bad atomic.Int64
}

func (c *counter) see(b []byte) { c.seeLen(len(b)) }

func (c *counter) seeLen(n int) {
	if n != payloadSize {
		c.bad.Add(1)
		return
	}
	c.n.Add(1)
}

var payloadSize int

// onNode runs f with profiler labels lib and node; goroutines f starts inherit them, so a CPU profile
// can be split per node (go tool pprof -tagfocus node=B).
func onNode(lib, node string, f func()) {
	pprof.Do(context.Background(), pprof.Labels("lib", lib, "node", node), func(context.Context) { f() })
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// info reads INFO section from Redis as a map.
func info(c *redis.Client, section string) map[string]string {
	m := map[string]string{}
	s, err := c.Info(context.Background(), section).Result()
	if err != nil {
		return m
	}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m
}

func redisCPU(c *redis.Client) time.Duration {
	m := info(c, "cpu")
	u, _ := strconv.ParseFloat(m["used_cpu_user"], 64)
	s, _ := strconv.ParseFloat(m["used_cpu_sys"], 64)
	return time.Duration((u + s) * float64(time.Second))
}

type result struct {
	lib       string
	conc, rep int
	rate      float64 // messages received by B per second, over the window
	cpu       float64 // process user+sys CPU per received message, µs
	rcpu      float64 // redis-server's CPU per received message, µs
	sent      int64   // publish calls that returned during the whole run (warm-up, window, drain)
	lost      int64   // sent − received after the drain
}

func main() {
	url := flag.String("redis", "redis://127.0.0.1:7601/0", "Redis URL (a real redis-server)")
	dur := flag.Duration("dur", 3*time.Second, "measured window of each run")
	warm := flag.Duration("warmup", 500*time.Millisecond, "publishing before the window opens")
	reps := flag.Int("reps", 5, "repetitions (medians are reported)")
	concFlag := flag.String("conc", "1,64,1024", "numbers of concurrent publishers")
	libsFlag := flag.String("libs", "phxgo,phxgo-routed,centrifuge,goredis", "libraries to run, among phxgo, phxgo-routed, centrifuge, goredis, goredis-auto")
	mailbox := flag.Int("mailbox", 1<<16, "B's buffer, in messages, on both libraries")
	size := flag.Int("size", 100, "payload size in bytes")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole program (labels lib and node)")
	verbose := flag.Bool("v", false, "print every run")
	flag.Parse()
	log.SetFlags(0)
	payloadSize = *size

	var concs []int
	for _, s := range strings.Split(*concFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("bad -conc %q", *concFlag)
		}
		concs = append(concs, n)
	}
	var run []lib
	for _, name := range strings.Split(*libsFlag, ",") {
		i := slices.IndexFunc(libs, func(l lib) bool { return l.name == strings.TrimSpace(name) })
		if i < 0 {
			log.Fatalf("unknown library %q", name)
		}
		run = append(run, libs[i])
	}

	opt, err := redis.ParseURL(*url)
	if err != nil {
		log.Fatal(err)
	}
	ic := redis.NewClient(opt)
	defer ic.Close()
	if err := ic.Ping(context.Background()).Err(); err != nil {
		log.Fatalf("redis %s: %v", *url, err)
	}
	printHeader(ic, *url, *dur, *warm, *reps, *mailbox)

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	payload := make([]byte, *size)
	for i := range payload {
		payload[i] = 'x'
	}
	var results []result
	g0 := runtime.NumGoroutine()
	for rep := range *reps {
		for _, conc := range concs {
			// Rotate the order from one repetition to the next, so that no library always runs
			// first (or right after another's teardown).
			for k := range run {
				l := run[(k+rep)%len(run)]
				cfg := pairConfig{lib: l.name, url: *url, mailbox: *mailbox, payload: any(payload), payloadBytes: payload,
					id: fmt.Sprintf("%d-%d-%d-%s", os.Getpid(), rep, conc, l.name)}
				r, err := runOnce(l, cfg, conc, *warm, *dur, ic)
				if err != nil {
					log.Fatalf("%s conc=%d rep=%d: %v", l.name, conc, rep, err)
				}
				r.rep = rep
				results = append(results, r)
				runtime.GC()
				if *verbose {
					fmt.Fprintf(os.Stderr, "rep %d conc %4d %-12s %10.0f msg/s %7.2f cpu-µs/msg %6.2f redis-cpu-µs/msg lost %d goroutines %d\n",
						rep, conc, l.name, r.rate, r.cpu, r.rcpu, r.lost, runtime.NumGoroutine()-g0)
				} else {
					fmt.Fprint(os.Stderr, ".")
				}
			}
		}
	}
	fmt.Fprintln(os.Stderr)
	printTables(results, concs, run)
}

func runOnce(l lib, cfg pairConfig, conc int, warm, dur time.Duration, ic *redis.Client) (result, error) {
	p, err := l.start(cfg)
	if err != nil {
		return result{}, err
	}
	defer p.close()
	cnt := p.counter()

	var stop atomic.Bool
	var sent atomic.Int64
	errc := make(chan error, 1)
	onNode(l.name, "A", func() {
		if lp, ok := p.(looper); ok {
			go func() { errc <- lp.publishLoop(conc, &stop, &sent) }()
			return
		}
		go func() {
			var wg sync.WaitGroup
			var first atomic.Value
			for range conc {
				wg.Go(func() {
					for !stop.Load() {
						if err := p.publish(); err != nil {
							first.CompareAndSwap(nil, err)
							return
						}
						sent.Add(1)
					}
				})
			}
			wg.Wait()
			err, _ := first.Load().(error)
			errc <- err
		}()
	})

	time.Sleep(warm)
	r0, c0, rc0, t0 := cnt.n.Load(), cpuTime(), redisCPU(ic), time.Now()
	time.Sleep(dur)
	r1, c1, rc1, t1 := cnt.n.Load(), cpuTime(), redisCPU(ic), time.Now()
	stop.Store(true)
	if err := <-errc; err != nil {
		return result{}, fmt.Errorf("publish: %w", err)
	}
	// Drain: wait until B has everything A sent, or until it stops making progress.
	last, lastChange := cnt.n.Load(), time.Now()
	for cnt.n.Load() < sent.Load() && time.Since(lastChange) < 2*time.Second {
		time.Sleep(10 * time.Millisecond)
		if n := cnt.n.Load(); n != last {
			last, lastChange = n, time.Now()
		}
	}
	n := r1 - r0
	if n <= 0 {
		return result{}, fmt.Errorf("B received nothing in the window (%s)", p.diag())
	}
	r := result{lib: l.name, conc: conc,
		rate: float64(n) / t1.Sub(t0).Seconds(),
		cpu:  float64((c1 - c0).Nanoseconds()) / 1e3 / float64(n),
		rcpu: float64((rc1 - rc0).Nanoseconds()) / 1e3 / float64(n),
		sent: sent.Load(),
		lost: sent.Load() - cnt.n.Load(),
	}
	if r.lost != 0 || cnt.bad.Load() != 0 {
		fmt.Fprintf(os.Stderr, "\n%s conc=%d: sent %d, received %d, wrong size %d: %s\n", l.name, conc, r.sent, cnt.n.Load(), cnt.bad.Load(), p.diag())
	}
	return r, nil
}

func printHeader(ic *redis.Client, url string, dur, warm time.Duration, reps, mailbox int) {
	fmt.Printf("# centrifuge-bench %s\n\n", time.Now().Format("2006-01-02 15:04"))
	fmt.Printf("- %s %s/%s, GOMAXPROCS %d, NumCPU %d\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU())
	if bi, ok := debug.ReadBuildInfo(); ok {
		var mods []string
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/centrifugal/centrifuge", "github.com/redis/rueidis", "github.com/redis/go-redis/v9", "github.com/phxgo/pubsub":
				v := d.Version
				if d.Replace != nil {
					v += " => " + d.Replace.Path
				}
				mods = append(mods, d.Path+" "+v)
			}
		}
		fmt.Printf("- %s\n", strings.Join(mods, ", "))
	}
	fmt.Printf("- redis-server %s at %s\n", info(ic, "server")["redis_version"], url)
	fmt.Printf("- window %v after %v warm-up, %d reps, B's buffer %d messages\n\n", dur, warm, reps, mailbox)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printTables(results []result, concs []int, run []lib) {
	get := func(name string, conc int, f func(result) float64) []float64 {
		var xs []float64
		for _, r := range results {
			if r.lib == name && r.conc == conc {
				xs = append(xs, f(r))
			}
		}
		return xs
	}
	rate := func(r result) float64 { return r.rate }
	cpu := func(r result) float64 { return r.cpu }
	rcpu := func(r result) float64 { return r.rcpu }

	fmt.Println("Medians over reps; throughput is messages received by B per second (min–max of the reps in brackets);")
	fmt.Println("CPU is this process's user+sys per received message (both nodes), redis-server's from INFO cpu.")
	fmt.Println()
	fmt.Println("| publishers | library | msg/s | cpu-µs/msg | redis-cpu-µs/msg | lost |")
	fmt.Println("| ---: | --- | ---: | ---: | ---: | ---: |")
	for _, conc := range concs {
		for _, l := range run {
			rs := get(l.name, conc, rate)
			var lost int64
			for _, r := range results {
				if r.lib == l.name && r.conc == conc {
					lost += r.lost
				}
			}
			fmt.Printf("| %d | %s | %s (%s–%s) | %.2f | %.2f | %d |\n", conc, l.name,
				kilo(median(rs)), kilo(slices.Min(rs)), kilo(slices.Max(rs)),
				median(get(l.name, conc, cpu)), median(get(l.name, conc, rcpu)), lost)
		}
	}
	ours := func(name string) bool { return strings.HasPrefix(name, "phxgo") }
	if !slices.ContainsFunc(run, func(l lib) bool { return ours(l.name) }) {
		return
	}
	fmt.Println()
	fmt.Println("Ratios ours / other: ratio of the medians above [median of the per-rep ratios, each rep's runs being adjacent in time].")
	fmt.Println("Throughput > 1 and CPU < 1 mean ours is ahead; phxgo-routed / phxgo is what routing changes.")
	fmt.Println()
	fmt.Println("| publishers | ours | vs | throughput ratio | CPU/msg ratio |")
	fmt.Println("| ---: | --- | --- | ---: | ---: |")
	for _, conc := range concs {
		for _, o := range run {
			if !ours(o.name) {
				continue
			}
			for _, l := range run {
				if l.name == o.name || (ours(l.name) && !(o.name == "phxgo-routed" && l.name == "phxgo")) {
					continue
				}
				paired := func(f func(result) float64) float64 {
					mine, theirs := get(o.name, conc, f), get(l.name, conc, f)
					var q []float64
					for i := range min(len(mine), len(theirs)) {
						q = append(q, mine[i]/theirs[i])
					}
					return median(q)
				}
				fmt.Printf("| %d | %s | %s | %.2f× [%.2f×] | %.2f× [%.2f×] |\n", conc, o.name, l.name,
					median(get(o.name, conc, rate))/median(get(l.name, conc, rate)), paired(rate),
					median(get(o.name, conc, cpu))/median(get(l.name, conc, cpu)), paired(cpu))
			}
		}
	}
}

func kilo(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2f M", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1f k", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}
