package outbound

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/proxy/propagation"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func TestDestination(t *testing.T) {
	local := netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), wire.OutboundPort)
	if _, err := Destination(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), wire.OutboundPort), local); err == nil {
		t.Error("a connection that was not redirected was accepted")
	}
	if got, err := Destination(netip.MustParseAddrPort("198.18.101.2:80"), local); err != nil || got.String() != "198.18.101.2:80" {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestHandlerPropagates(t *testing.T) {
	store := &propagation.Store{}
	known := propagation.NewTraceID()
	store.Record(known, "Bearer inbound")
	var seen string
	h := &Handler{Store: store, Forward: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen = r.Header.Get("Authorization")
	})}
	for _, tc := range []struct {
		name  string
		trace *propagation.TraceID
		own   string
		want  string
	}{
		{"same trace", &known, "", "Bearer inbound"},
		{"app's own header wins", &known, "Bearer app", "Bearer app"},
		{"other trace unchanged", new(propagation.TraceID), "", ""},
		{"no trace unchanged", nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://stars/", nil)
			if tc.own != "" {
				req.Header.Set("Authorization", tc.own)
			}
			if tc.trace != nil {
				id := *tc.trace
				if !id.IsValid() {
					id = propagation.NewTraceID()
				}
				req = req.WithContext(propagation.WithTrace(req.Context(), propagation.TraceContext{TraceID: id}))
			}
			seen = "unset"
			h.ServeHTTP(httptest.NewRecorder(), req)
			if seen != tc.want {
				t.Fatalf("upstream saw %q, want %q", seen, tc.want)
			}
		})
	}
}
