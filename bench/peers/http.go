// The Go peer of the `http` workload: net/http on 127.0.0.1:PORT answering
// every request with 200 "hello", until SIGINT or SIGTERM. GOMAXPROCS comes
// from the environment.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: http-go PORT")
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		os.Exit(0)
	}()
	hello := []byte("hello")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write(hello)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Args[1], nil); err != nil {
		fmt.Fprintln(os.Stderr, "http-go:", err)
		os.Exit(1)
	}
}
