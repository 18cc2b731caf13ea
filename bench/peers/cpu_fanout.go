// cpu_fanout.go - the Go peer of the `cpu_fanout` workload: n goroutines,
// each running the same integer kernel as bench/cpu_fanout.c (a 64-bit LCG
// with an xor-shift, 25,000 rounds), summed with sync/atomic and awaited
// with a WaitGroup; prints seconds at the GOMAXPROCS given in the environment.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const kernelIters = 25000

func kernel(x uint64) uint64 {
	for i := 0; i < kernelIters; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		x ^= x >> 29
	}
	return x
}

func main() {
	n := flag.Int("n", 20000, "tasks")
	flag.Parse()

	var wg sync.WaitGroup
	var sum uint64
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			atomic.AddUint64(&sum, kernel(seed))
		}(uint64(i))
	}
	wg.Wait()
	elapsed := time.Since(t0)

	fmt.Printf("{\"workload\":\"cpu_fanout\",\"impl\":\"go\",\"procs\":%d,\"seconds\":%.4f,\"n\":%d,\"check\":\"%016x\"}\n",
		runtime.GOMAXPROCS(0), elapsed.Seconds(), *n, sum)
}
