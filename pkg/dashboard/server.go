package dashboard

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// StatePath is where the page reads the State.
const StatePath = "/api/state"

//go:embed assets
var assets embed.FS

// Server is the dashboard's HTTP handler: the page, its script and style
// (embedded, so it works offline), and the State as JSON at StatePath.
// It answers only requests addressed to the address it listens on: a web
// page elsewhere that points a name of its own at 127.0.0.1 (DNS
// rebinding) reaches the port, but its requests name its own host.
type Server struct {
	// State is the current State; Refresher.State.
	State func() State
	// Listen is the address listened on, which the Host header of every
	// request must name.
	Listen *net.TCPAddr
}

// Handler serves the page.
func (s *Server) Handler() http.Handler {
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(static)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatePath, s.serveState)
	mux.Handle("GET /{$}", files)
	for _, f := range []string{"/app.js", "/style.css"} {
		mux.Handle("GET "+f, files)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// The page builds its DOM from text only; this is a second wall.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		if !s.hostAllowed(r.Host) {
			http.Error(w, "meshctl dashboard answers only requests addressed to the address it listens on", http.StatusMisdirectedRequest)
			return
		}
		// Another site's page can still make a browser send a request
		// with the right Host (an <img> pointing here): it cannot read the
		// answer, but it would keep the proxies being read. Browsers say
		// where a request comes from; only the page itself, or the
		// address typed in, is served.
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			http.Error(w, "meshctl dashboard answers only its own page", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// serveState writes the State as JSON; a page that holds the same
// generation gets 304.
func (s *Server) serveState(w http.ResponseWriter, r *http.Request) {
	st := s.State()
	etag := `"` + strconv.FormatUint(st.Generation, 10) + `"`
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// Encoded whole before anything is written: a state that does not
	// encode must not reach the page as an empty 200 under a new ETag.
	body, err := json.Marshal(st)
	if err != nil {
		h.Del("ETag")
		http.Error(w, "the dashboard's state does not encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", "application/json")
	w.Write(append(body, '\n'))
}

// hostAllowed says a request's Host names the listening address: its IP
// and port; localhost and the loopback IPs when it listens on loopback;
// any IP literal when it listens on every address. A DNS name other than
// localhost is never accepted, which is what DNS rebinding needs.
func (s *Server) hostAllowed(hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		// A Host without a port is for port 80.
		host, port = strings.Trim(hostport, "[]"), "80"
	}
	if port != strconv.Itoa(s.Listen.Port) {
		return false
	}
	listen := s.Listen.IP
	if strings.EqualFold(host, "localhost") {
		return listen.IsLoopback() || listen.IsUnspecified()
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return false
	case listen.IsUnspecified():
		return true
	case listen.IsLoopback():
		return ip.IsLoopback()
	}
	return ip.Equal(listen)
}
