// spawn.go - the Go peer of the `spawn` workload: start n goroutines that
// return at once and wait for them all with a sync.WaitGroup; prints
// ns_per_op per goroutine and peak_rss_mb (VmHWM) at the GOMAXPROCS given
// in the environment.
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

func main() {
	n := flag.Int("n", 1000000, "goroutines")
	flag.Parse()

	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)

	fmt.Printf("{\"workload\":\"spawn\",\"impl\":\"go\",\"procs\":%d,\"ns_per_op\":%.2f,\"n\":%d,\"peak_rss_mb\":%.1f}\n",
		runtime.GOMAXPROCS(0), float64(elapsed.Nanoseconds())/float64(*n), *n,
		float64(statusKB("VmHWM"))/1024)
}
