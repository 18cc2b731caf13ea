// yield.go - the Go peer of the `yield` workload: two goroutines each call
// runtime.Gosched n times; prints ns_per_op per switch = wall / (2n) at
// the GOMAXPROCS given in the environment.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"time"
)

func main() {
	n := flag.Int("n", 1000000, "yields per goroutine")
	flag.Parse()

	var wg sync.WaitGroup
	t0 := time.Now()
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < *n; i++ {
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)

	fmt.Printf("{\"workload\":\"yield\",\"impl\":\"go\",\"procs\":%d,\"ns_per_op\":%.2f,\"n\":%d}\n",
		runtime.GOMAXPROCS(0), float64(elapsed.Nanoseconds())/(2*float64(*n)), *n)
}
