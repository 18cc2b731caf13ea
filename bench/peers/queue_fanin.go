// queue_fanin.go - the Go peer of the `queue_fanin` workload: 4 producer
// and 4 consumer goroutines share one chan of capacity 1024; the producers
// send n integers in all, the consumers sum them (checked); prints
// ns_per_op per item at the GOMAXPROCS given in the environment.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	n := flag.Int("n", 1000000, "items")
	flag.Parse()

	const sides = 4
	ch := make(chan int, 1024)
	var prod, cons sync.WaitGroup
	var sum uint64
	t0 := time.Now()
	for i := 0; i < sides; i++ {
		from, to := *n*i/sides, *n*(i+1)/sides
		prod.Add(1)
		go func() {
			defer prod.Done()
			for v := from; v < to; v++ {
				ch <- v
			}
		}()
		cons.Add(1)
		go func() {
			defer cons.Done()
			var s uint64
			for v := range ch {
				s += uint64(v)
			}
			atomic.AddUint64(&sum, s)
		}()
	}
	prod.Wait()
	close(ch)
	cons.Wait()
	elapsed := time.Since(t0)
	if sum != uint64(*n)*uint64(*n-1)/2 {
		panic("queue_fanin: wrong sum")
	}

	fmt.Printf("{\"workload\":\"queue_fanin\",\"impl\":\"go\",\"procs\":%d,\"ns_per_op\":%.2f,\"n\":%d}\n",
		runtime.GOMAXPROCS(0), float64(elapsed.Nanoseconds())/float64(*n), *n)
}
