package forward

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/meshctl/meshctl/pkg/proxy/h1"
)

// ServeH1 forwards an exchange of the lean path over the HTTP/1.1 pool:
// the request head (as the pipeline left it) and its body go upstream in
// one write, the response head and body come back relayed as they are, by
// their own framing. It commits the request. An error with x.Started false
// has sent nothing downstream; the caller answers 502. Any error sets
// x.Close: the request's body may not have been read, and what is left of
// it must not be taken for the connection's next request.
func (f *Forwarder) ServeH1(x *h1.Exchange) (err error) {
	x.Commit()
	defer func() {
		if err != nil {
			x.Close = true
		}
	}()
	ctx := context.Background()
	addr := x.Dst.String()
	pc, reused, err := f.pool.get(ctx, addr)
	if err != nil {
		return err
	}
	if !x.Inflight.Set(pc) {
		pc.Close()
		return errAborted
	}
	start := time.Now()
	resp, unanswered, err := f.send(pc, x)
	if err != nil && reused && unanswered && !x.Started && x.ContentLength == 0 &&
		replayable(x.Method, x.Header.Has("Idempotency-Key") || x.Header.Has("X-Idempotency-Key")) {
		// The server may have closed the idle connection as it was being
		// reused; a request it cannot have answered, that can safely be
		// done twice, goes again on a new one.
		x.Inflight.Clear()
		pc.Close()
		if pc, err = f.pool.dialConn(ctx, addr); err != nil {
			return err
		}
		if !x.Inflight.Set(pc) {
			pc.Close()
			return errAborted
		}
		resp, _, err = f.send(pc, x)
	}
	if err != nil {
		x.Inflight.Clear()
		pc.Close()
		return err
	}
	br := pc.br
	if resp == &pc.large {
		// Read on through the larger buffer; what it holds beyond this
		// response would be lost to the next, so the connection is not
		// reused.
		br, resp.Close = pc.largeBR, true
	}
	x.Upstream = time.Since(start)
	x.Status = resp.Status
	// A body that ends with the connection ends the downstream one too.
	if resp.Length == h1.UntilClosed {
		x.Close = true
	}
	resp.WriteHead(x.Out, x.Close)
	x.Started = true
	switch resp.Length {
	case h1.Chunked:
		x.BytesSent, err = h1.RelayChunked(x.Out, br)
	default:
		x.BytesSent, err = h1.Relay(x.Out, br, resp.Length)
	}
	if err == nil {
		err = x.Out.Flush()
	}
	if aborted := !x.Inflight.Clear(); err != nil || resp.Close || aborted {
		pc.Close()
	} else {
		f.pool.put(pc, addr)
	}
	return err
}

// errAborted is an exchange the server aborted: Shutdown ran out of time,
// or the client left.
var errAborted = errors.New("exchange aborted: the proxy is stopping or the client left")

// send writes the request and reads the response head; interim (1xx)
// responses are passed on downstream as they come. unanswered says no
// byte of a response arrived before the error.
func (f *Forwarder) send(pc *h1Conn, x *h1.Exchange) (resp *h1.Response, unanswered bool, err error) {
	x.Request.WriteHead(pc.bw)
	if x.ContentLength > 0 {
		if _, err := h1.Relay(pc.bw, x.In, x.ContentLength); err != nil {
			// The client's body did not arrive: nobody to answer.
			x.Started, x.Close = true, true
			return nil, true, err
		}
	}
	if err := pc.bw.Flush(); err != nil {
		return nil, true, err
	}
	if _, err := pc.br.Peek(1); err != nil {
		return nil, true, err
	}
	resp, err = f.readResponse(pc, x)
	return resp, false, err
}

// readResponse reads the response head of send.
func (f *Forwarder) readResponse(pc *h1Conn, x *h1.Exchange) (*h1.Response, error) {
	resp := &pc.resp
	for {
		err := h1.ReadResponse(pc.br, x.Method, resp)
		if errors.Is(err, h1.ErrHeadTooLarge) {
			// Rare (large cookies): read it through a buffer as large as
			// net/http allows.
			resp = &pc.large
			pc.largeBR = bufio.NewReaderSize(pc.br, http.DefaultMaxHeaderBytes)
			err = h1.ReadResponse(pc.largeBR, x.Method, resp)
		}
		if err != nil {
			return nil, err
		}
		if resp.Status == http.StatusSwitchingProtocols {
			return nil, errors.New("101 Switching Protocols to a request without Upgrade")
		}
		if resp.Status >= 200 {
			return resp, nil
		}
		resp.WriteHead(x.Out, false)
		if err := x.Out.Flush(); err != nil {
			x.Started, x.Close = true, true
			return nil, err
		}
	}
}
