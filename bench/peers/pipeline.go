// pipeline.go - the Go peer of the `pipeline` workload: the main goroutine
// feeds n integers through 4 stage goroutines joined by chans of capacity
// 64 to a sink; each stage applies the same kernel as bench/pipeline.c
// (40 rounds of a 64-bit LCG, then a shift), the sink sums; prints
// ns_per_op per item and the sum at the GOMAXPROCS given in the
// environment.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"time"
)

const stages = 4
const rounds = 40

func kernel(x uint64) uint64 {
	for i := 0; i < rounds; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

func main() {
	n := flag.Int("n", 1000000, "items")
	flag.Parse()

	var ch [stages + 1]chan uint64
	for i := range ch {
		ch[i] = make(chan uint64, 64)
	}
	done := make(chan uint64)
	t0 := time.Now()
	for i := 0; i < stages; i++ {
		in, out := ch[i], ch[i+1]
		go func() {
			for x := range in {
				out <- kernel(x) >> 1
			}
			close(out)
		}()
	}
	go func() {
		var sum uint64
		for x := range ch[stages] {
			sum += x
		}
		done <- sum
	}()
	for v := 0; v < *n; v++ {
		ch[0] <- uint64(v)
	}
	close(ch[0])
	sum := <-done
	elapsed := time.Since(t0)

	fmt.Printf("{\"workload\":\"pipeline\",\"impl\":\"go\",\"procs\":%d,\"ns_per_op\":%.2f,\"n\":%d,\"check\":\"%016x\"}\n",
		runtime.GOMAXPROCS(0), float64(elapsed.Nanoseconds())/float64(*n), *n, sum)
}
