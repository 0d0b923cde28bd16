package main

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFloorProbe makes one floor connection to an HTTP server in the
// test's own network namespace and checks the server saw the probe's
// request, and that a refused connection is an error.
func TestFloorProbe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setns needs root")
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *http.Request, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err == nil {
			got <- req
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"))
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ns)
	port := ln.Addr().(*net.TCPAddr).Port
	sa := &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	if err := floorProbe(ns, ns, sa, []byte(floorRequest), make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	req := <-got
	if req.Method != "GET" || req.URL.Path != "/" || req.UserAgent() != "kube-probe/1.37" || !req.Close {
		t.Errorf("request %s %s, User-Agent %q, close %v", req.Method, req.URL, req.UserAgent(), req.Close)
	}
	ln.Close()
	if err := floorProbe(ns, ns, sa, []byte(floorRequest), make([]byte, 64)); err == nil {
		t.Error("a probe of a closed port succeeded")
	}
}
