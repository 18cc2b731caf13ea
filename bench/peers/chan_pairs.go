// chan_pairs.go - the Go peer of the `chan_pairs` workload: `pairs`
// independent pairs of goroutines, each pair passing a value back and
// forth over two unbuffered channels, n round trips a pair; prints
// ns_per_op per one-way message = wall / (2 * pairs * n) at the GOMAXPROCS
// given in the environment.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"time"
)

func main() {
	pairs := flag.Int("pairs", 64, "pairs")
	n := flag.Int("n", 20000, "round trips a pair")
	flag.Parse()

	var wg sync.WaitGroup
	t0 := time.Now()
	for p := 0; p < *pairs; p++ {
		ab := make(chan int)
		ba := make(chan int)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < *n; i++ {
				ab <- i
				if v := <-ba; v != i {
					panic("chan_pairs: wrong value")
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < *n; i++ {
				ba <- <-ab
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)

	fmt.Printf("{\"workload\":\"chan_pairs\",\"impl\":\"go\",\"procs\":%d,\"pairs\":%d,\"ns_per_op\":%.2f,\"n\":%d}\n",
		runtime.GOMAXPROCS(0), *pairs, float64(elapsed.Nanoseconds())/(2*float64(*pairs)*float64(*n)), *n)
}
