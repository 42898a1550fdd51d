package channel

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/identity/identitytest"
)

// mesh is a CA, the controller's certificate and a proxy's.
type mesh struct {
	ca         *identitytest.CA
	controller *tls.Certificate
	proxy      *tls.Certificate
}

func newMesh(t *testing.T) *mesh {
	now := time.Now()
	ca := identitytest.NewCA(t, now.Add(-time.Hour))
	return &mesh{
		ca:         ca,
		controller: issue(t, ca, "mesh-system", "mesh-controller", now.Add(-time.Minute), 24*time.Hour),
		proxy:      issue(t, ca, "shop", "web", now.Add(-time.Minute), 24*time.Hour),
	}
}

// client is a Client of the proxy's certificate, fast to retry.
func (m *mesh) client(t *testing.T, addr string, tweak func(*Options)) *Client {
	o := Options{
		Address:      addr,
		ControllerID: controllerID(t),
		Sources:      identity.Sources{Certificate: func() *tls.Certificate { return m.proxy }, Bundle: func() *identity.Bundle { return m.ca.Bundle }},
		MinBackoff:   time.Millisecond,
		MaxBackoff:   5 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSnapshotThenHeartbeats(t *testing.T) {
	m := newMesh(t)
	a := snapshotLine(t, 1, "a")
	var v channel.Version
	var msg channel.Message
	if err := json.Unmarshal(a, &msg); err != nil {
		t.Fatal(err)
	}
	v = msg.Version
	f := startFakeController(t, m.controller, m.ca.Bundle, func(n int, w http.ResponseWriter, r *http.Request) {
		streamHeader(w)
		write(w, a)
		write(w, channel.HeartbeatLine(v))
		<-r.Context().Done()
	})
	c := m.client(t, f.addr, nil)
	if c.Index() != nil || c.Snapshot() != nil {
		t.Fatal("a snapshot before Run")
	}
	runClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if got := resolves(c, 1); got != "spiffe://cluster.local/ns/shop/sa/a" {
		t.Errorf("198.18.0.1 resolves to %q", got)
	}
	st := c.Status()
	if !st.Connected || st.Version != v || st.Connects != 1 || st.LastError != "" || st.Controller != f.addr {
		t.Errorf("status %+v", st)
	}
	if _, err := json.Marshal(st); err != nil {
		t.Errorf("the status does not encode: %v", err)
	}
}

// TestRefusesAnotherController: a server with a valid mesh certificate for
// another identity, or with the right identity from an anchor the proxy
// does not trust, is refused at the handshake: the request never reaches
// it and no snapshot is taken.
func TestRefusesAnotherController(t *testing.T) {
	m := newMesh(t)
	foreign := identitytest.NewCA(t, time.Now().Add(-time.Hour))
	for name, cert := range map[string]*tls.Certificate{
		"another identity": issue(t, m.ca, "mesh-system", "impostor", time.Now().Add(-time.Minute), time.Hour),
		"foreign anchor":   issue(t, foreign, "mesh-system", "mesh-controller", time.Now().Add(-time.Minute), time.Hour),
	} {
		t.Run(name, func(t *testing.T) {
			f := startFakeController(t, cert, m.ca.Bundle, func(n int, w http.ResponseWriter, r *http.Request) {
				streamHeader(w)
				write(w, snapshotLine(t, 1, "a"))
				<-r.Context().Done()
			})
			c := m.client(t, f.addr, nil)
			runClient(t, c)
			eventually(t, "two failed attempts", func() bool {
				return strings.Contains(c.Status().LastError, "controller") && c.Status().LastErrorAt != time.Time{}
			})
			time.Sleep(20 * time.Millisecond) // a few more attempts
			if n := f.requests.Load(); n != 0 {
				t.Errorf("%d requests reached the impostor", n)
			}
			if c.Snapshot() != nil {
				t.Error("took a snapshot from the impostor")
			}
			select {
			case <-c.Synced():
				t.Error("synced with the impostor")
			default:
			}
			t.Logf("refused: %s", c.Status().LastError)
		})
	}
}

// TestKeepsSnapshotWhenTheStreamFails: a stream cut in the middle of a
// message, a message over the size limit, and malformed messages each end
// the stream; the client keeps the last good snapshot, then reconnects
// and takes the next.
func TestKeepsSnapshotWhenTheStreamFails(t *testing.T) {
	m := newMesh(t)
	a, b := snapshotLine(t, 1, "a"), snapshotLine(t, 2, "b")
	badIdentity := func() []byte {
		c := channel.Content{Pods: []channel.Pod{{Identity: "spiffe://cluster.local/ns/shop/sa/evil/extra"}}}
		content, _ := json.Marshal(c)
		l, _, _ := channel.SnapshotLine(content, time.Now())
		return l
	}()
	const limit = 4096
	for name, tc := range map[string]struct {
		bad  []byte
		cut  bool // the server ends the response after bad
		want string
	}{
		"cut midway":               {b[:len(b)/2], true, "unexpected EOF"},
		"oversized":                {[]byte(`{"type":"snapshot","x":"` + strings.Repeat("x", 2*limit) + "\"}\n"), false, "size limit"},
		"not JSON":                 {[]byte("<html>\n"), false, "invalid character"},
		"content mismatch":         {[]byte(strings.Replace(string(b), "sa/b", "sa/c", 1)), false, "hashes to"},
		"same hash, other content": {[]byte(strings.Replace(string(a), "sa/a", "sa/z", 1)), false, "hashes to"},
		"invalid content":          {badIdentity, false, "pod 0"},
	} {
		t.Run(name, func(t *testing.T) {
			proceed := make(chan struct{})
			f := startFakeController(t, m.controller, m.ca.Bundle, func(n int, w http.ResponseWriter, r *http.Request) {
				streamHeader(w)
				switch n {
				case 1:
					write(w, a)
					write(w, tc.bad)
					if !tc.cut {
						// The client must drop the stream on its own.
						<-r.Context().Done()
					}
				default:
					select {
					case <-proceed:
					case <-r.Context().Done():
						return
					}
					write(w, b)
					<-r.Context().Done()
				}
			})
			c := m.client(t, f.addr, func(o *Options) { o.MaxMessageBytes = limit })
			runClient(t, c)
			eventually(t, "the client to drop the bad stream and reconnect", func() bool { return f.requests.Load() >= 2 })
			if got := resolves(c, 1); got != "spiffe://cluster.local/ns/shop/sa/a" {
				t.Errorf("after the bad message 198.18.0.1 resolves to %q, want the last good snapshot's", got)
			}
			if st := c.Status(); !strings.Contains(st.LastError, tc.want) {
				t.Errorf("last error %q does not say %q", st.LastError, tc.want)
			}
			close(proceed)
			eventually(t, "the next snapshot", func() bool { return resolves(c, 2) == "spiffe://cluster.local/ns/shop/sa/b" })
			if got := resolves(c, 1); got != "" {
				t.Errorf("198.18.0.1 still resolves to %q after a snapshot without it", got)
			}
		})
	}
}

// TestSilentControllerIsDropped: a controller that sends nothing for
// DeadAfter (a dead peer behind a live TCP connection) is dropped and the
// client reconnects, keeping its snapshot.
func TestSilentControllerIsDropped(t *testing.T) {
	m := newMesh(t)
	a := snapshotLine(t, 1, "a")
	f := startFakeController(t, m.controller, m.ca.Bundle, func(n int, w http.ResponseWriter, r *http.Request) {
		streamHeader(w)
		if n == 1 {
			write(w, a)
		}
		<-r.Context().Done()
	})
	clock := &fakeClock{now: time.Now()}
	c := m.client(t, f.addr, func(o *Options) { o.Clock = clock })
	runClient(t, c)
	eventually(t, "the first snapshot", func() bool { return c.Snapshot() != nil })
	eventually(t, "the client to give up on the silent stream and reconnect", func() bool {
		clock.Advance(channel.DeadAfter)
		return f.requests.Load() >= 2
	})
	if got := resolves(c, 1); got != "spiffe://cluster.local/ns/shop/sa/a" {
		t.Errorf("198.18.0.1 resolves to %q, want the kept snapshot's", got)
	}
	if st := c.Status(); !strings.Contains(st.LastError, errSilent.Error()) {
		t.Errorf("last error %q, want the silence named", st.LastError)
	}
}

// TestHeartbeatsKeepTheStream: heartbeats within DeadAfter keep a stream
// that carries no new snapshot.
func TestHeartbeatsKeepTheStream(t *testing.T) {
	m := newMesh(t)
	a := snapshotLine(t, 1, "a")
	var msg channel.Message
	if err := json.Unmarshal(a, &msg); err != nil {
		t.Fatal(err)
	}
	beat := make(chan struct{})
	beaten := make(chan struct{})
	f := startFakeController(t, m.controller, m.ca.Bundle, func(n int, w http.ResponseWriter, r *http.Request) {
		streamHeader(w)
		write(w, a)
		for {
			select {
			case <-beat:
				write(w, channel.HeartbeatLine(msg.Version))
				beaten <- struct{}{}
			case <-r.Context().Done():
				return
			}
		}
	})
	clock := &fakeClock{now: time.Now()}
	c := m.client(t, f.addr, func(o *Options) { o.Clock = clock })
	runClient(t, c)
	eventually(t, "the first snapshot", func() bool { return c.Snapshot() != nil })
	for range 5 {
		clock.Advance(channel.DeadAfter / 2)
		beat <- struct{}{}
		<-beaten
		eventually(t, "the heartbeat to be read", func() bool { return c.Status().LastMessage.Equal(clock.Now()) })
	}
	if n := f.requests.Load(); n != 1 {
		t.Errorf("%d streams, want the one kept alive by heartbeats", n)
	}
}

// TestStatusCodes: a refusal by the controller is reported with its
// status and text, and retried.
func TestStatusCodes(t *testing.T) {
	m := newMesh(t)
	f := startFakeController(t, m.controller, m.ca.Bundle, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no snapshot yet", http.StatusServiceUnavailable)
	})
	c := m.client(t, f.addr, nil)
	runClient(t, c)
	eventually(t, "retries", func() bool { return f.requests.Load() >= 3 })
	if st := c.Status(); !strings.Contains(st.LastError, "503") || !strings.Contains(st.LastError, "no snapshot yet") || st.Connected {
		t.Errorf("status %+v", st)
	}
}

func TestNewValidates(t *testing.T) {
	for _, o := range []Options{{}, {Address: "no-port", ControllerID: controllerID(t)}, {Address: "h:1"}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}
