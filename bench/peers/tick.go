// tick.go - the Go peer of the `tick` workload: a 1 kHz loop that sleeps
// until each absolute deadline (time.Sleep(time.Until(deadline))) for the
// given seconds; with -load busy a goroutine beside it computes for 50 us
// and calls runtime.Gosched, over and over. Prints ticks and the lateness
// after each deadline (p50_us, p99_us, max_us) at the GOMAXPROCS given in
// the environment.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sort"
	"sync/atomic"
	"time"
)

func main() {
	seconds := flag.Float64("seconds", 10, "how long the loop runs")
	load := flag.String("load", "idle", "idle or busy")
	flag.Parse()

	var stop atomic.Bool
	if *load == "busy" {
		go func() {
			x := uint64(1)
			for !stop.Load() {
				until := time.Now().Add(50 * time.Microsecond)
				for time.Now().Before(until) {
					x = x*6364136223846793005 + 1442695040888963407
				}
				runtime.Gosched()
			}
			_ = x
		}()
	}

	period := time.Millisecond
	start := time.Now()
	end := start.Add(time.Duration(*seconds * float64(time.Second)))
	late := make([]time.Duration, 0, int(*seconds*1000)+16)
	for k := 1; ; k++ {
		deadline := start.Add(time.Duration(k) * period)
		if deadline.After(end) {
			break
		}
		time.Sleep(time.Until(deadline))
		late = append(late, time.Since(deadline))
	}
	stop.Store(true)

	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	n := len(late)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	fmt.Printf("{\"workload\":\"tick\",\"impl\":\"go\",\"procs\":%d,\"load\":\"%s\",\"ticks\":%d,"+
		"\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
		runtime.GOMAXPROCS(0), *load, n, us(late[n/2]), us(late[n*99/100]), us(late[n-1]))
}
