// chan.go - the Go peer of the `chan` workload: ping-pong between two
// goroutines over unbuffered channels (one each way), n round trips;
// prints ns_per_op one way = wall / (2n) at the GOMAXPROCS given in the
// environment.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"time"
)

func main() {
	n := flag.Int("n", 1000000, "round trips")
	flag.Parse()

	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		ping <- i
		<-pong
	}
	elapsed := time.Since(t0)
	close(ping)

	fmt.Printf("{\"workload\":\"chan\",\"impl\":\"go\",\"procs\":%d,\"ns_per_op\":%.2f,\"n\":%d}\n",
		runtime.GOMAXPROCS(0), float64(elapsed.Nanoseconds())/(2*float64(*n)), *n)
}
