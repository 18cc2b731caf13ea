// sleepers.go - the Go peer of the `sleepers` workload: n goroutines, the
// i-th sleeping until T0 + wait + i µs (time.Sleep until its deadline).
// Prints start_s (until all are asleep), bytes_per_task (VmRSS + VmPTE
// growth / n), faults_per_task (minor faults while starting / n), wake_s
// (from the last deadline until all have ended) and "late" when not all
// were asleep by T0 + wait, at the GOMAXPROCS given in the environment.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// statusKB returns a field of /proc/self/status in kB, or -1.
func statusKB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, field+":") {
			fields := strings.Fields(line[len(field)+1:])
			if len(fields) > 0 {
				if v, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}

func rssPTE() int64 {
	return (statusKB("VmRSS") + statusKB("VmPTE")) * 1024
}

func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Minflt
}

func main() {
	n := flag.Int("n", 1000000, "goroutines")
	waitMS := flag.Int64("wait-ms", 30000, "wait before the first deadline, ms")
	flag.Parse()
	wait := time.Duration(*waitMS) * time.Millisecond

	var asleep int64
	var wg sync.WaitGroup

	mem0 := rssPTE()
	faults0 := minorFaults()
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func(deadline time.Time) {
			defer wg.Done()
			atomic.AddInt64(&asleep, 1)
			time.Sleep(time.Until(deadline))
		}(t0.Add(wait + time.Duration(i)*time.Microsecond))
	}
	for atomic.LoadInt64(&asleep) < int64(*n) {
		runtime.Gosched()
	}
	tAsleep := time.Now()
	mem1 := rssPTE()
	faults1 := minorFaults()
	fmt.Fprintf(os.Stderr, "sleepers-go: all asleep after %.3f s\n", tAsleep.Sub(t0).Seconds())

	wg.Wait()
	tEnd := time.Now()
	last := t0.Add(wait + time.Duration(*n-1)*time.Microsecond)

	late := ""
	if tAsleep.After(t0.Add(wait)) {
		late = ",\"late\":true"
	}
	fmt.Printf("{\"workload\":\"sleepers\",\"impl\":\"go\",\"procs\":%d,\"n\":%d,\"start_s\":%.4f,"+
		"\"bytes_per_task\":%.1f,\"faults_per_task\":%.3f,\"wake_s\":%.4f%s}\n",
		runtime.GOMAXPROCS(0), *n, tAsleep.Sub(t0).Seconds(),
		float64(mem1-mem0)/float64(*n), float64(faults1-faults0)/float64(*n),
		tEnd.Sub(last).Seconds(), late)
}
