package listener

import (
	"net"
	"sync"
)

// connQueue is a net.Listener whose connections are handed over by handle
// after detection, so that one http.Server serves every HTTP connection.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		c.Close()
	}
}

// Accept returns the next HTTP connection.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; connections pushed afterwards are closed.
func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

// Addr is unused by http.Server beyond logging.
func (q *connQueue) Addr() net.Addr { return &net.TCPAddr{} }
