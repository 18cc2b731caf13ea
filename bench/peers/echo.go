// The Go peer of the `echo` workload: a TCP echo server on 127.0.0.1:PORT,
// one goroutine per connection reading into a buffer and writing back what
// it read, until SIGINT or SIGTERM. GOMAXPROCS comes from the environment.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: echo-go PORT")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-go:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo-go:", err)
			os.Exit(1)
		}
		go serve(c)
	}
}
