// queue.go - the Go peer of the `queue` workload: one producer and one
// consumer goroutine pass n ints through a chan int of capacity 1024;
// prints ns_per_op per item and items_per_s at the GOMAXPROCS given in the
// environment.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func main() {
	n := flag.Int("n", 1000000, "items")
	flag.Parse()

	ch := make(chan int, 1024)
	done := make(chan int)
	t0 := time.Now()
	go func() {
		for i := 0; i < *n; i++ {
			ch <- i
		}
		close(ch)
	}()
	go func() {
		sum := 0
		for v := range ch {
			sum += v
		}
		done <- sum
	}()
	sum := <-done
	elapsed := time.Since(t0)
	if want := (*n - 1) * *n / 2; sum != want {
		fmt.Fprintf(os.Stderr, "queue-go: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}

	sec := elapsed.Seconds()
	fmt.Printf("{\"workload\":\"queue\",\"impl\":\"go\",\"procs\":%d,\"ns_per_op\":%.2f,\"items_per_s\":%.0f,\"n\":%d}\n",
		runtime.GOMAXPROCS(0), float64(elapsed.Nanoseconds())/float64(*n), float64(*n)/sec, *n)
}
