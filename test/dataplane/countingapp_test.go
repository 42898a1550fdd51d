package dataplane

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// The counting app stands behind a proxy whose protections are attacked:
// it counts every connection and every byte that reaches it, on its HTTP
// port (booksPort) and its opaque echo port (echoPort), and the HTTP
// requests it serves (a proxy reuses its connections to the app), and
// reports them on
// booksAdminPort, which the pod's interception leaves alone.

// appCounts is what the counting app reports.
type appCounts struct {
	Conns    int64 `json:"conns"`
	Bytes    int64 `json:"bytes"`
	Requests int64 `json:"requests"`
}

// countingListener counts the connections it accepts and the bytes read
// from them.
type countingListener struct {
	net.Listener
	conns, bytes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.conns.Add(1)
	return countingConn{c, l.bytes}, nil
}

type countingConn struct {
	net.Conn
	bytes *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.bytes.Add(int64(n))
	return n, err
}

func (c countingConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

func runCounting() error {
	var conns, bytes, requests atomic.Int64
	listen := func(port int) (net.Listener, error) {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			return nil, err
		}
		return countingListener{ln, &conns, &bytes}, nil
	}
	echo, err := listen(echoPort)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(append([]byte("echo:"), b...))
			}()
		}
	}()
	go http.ListenAndServe(fmt.Sprintf(":%d", booksAdminPort), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(appCounts{Conns: conns.Load(), Bytes: bytes.Load(), Requests: requests.Load()})
	}))
	ln, err := listen(booksPort)
	if err != nil {
		return err
	}
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, "hello from the counting app")
	}))
}
