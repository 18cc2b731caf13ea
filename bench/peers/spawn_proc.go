// spawn_proc.go - the Go peer of the `spawn_proc` workload: n runs of
// /bin/true through os/exec (Command + Run), at-once goroutines taking
// them in turn; prints procs_per_s at the GOMAXPROCS given in the
// environment.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	n := flag.Int64("n", 2000, "processes to run")
	atOnce := flag.Int("at-once", 1, "processes running at once")
	flag.Parse()

	var next, done atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for g := 0; g < *atOnce; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= *n {
				if err := exec.Command("/bin/true").Run(); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	s := time.Since(t0).Seconds()
	fmt.Printf("{\"workload\":\"spawn_proc\",\"impl\":\"go\",\"procs\":%d,\"at_once\":%d,"+
		"\"parent_mb\":0,\"procs_per_s\":%.1f,\"n\":%d}\n",
		runtime.GOMAXPROCS(0), *atOnce, float64(done.Load())/s, *n)
}
