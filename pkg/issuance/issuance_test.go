package issuance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRequest(t *testing.T) {
	chain := [][]byte{[]byte("leaf"), []byte("issuer")}
	csr := []byte("csr")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method != http.MethodPost || r.URL.Path != Path:
			http.Error(w, "where", http.StatusNotFound)
		case r.Header.Get(HeaderAuthorization) != "Bearer tok" || r.Header.Get("Content-Type") != ContentTypeCSR || !bytes.Equal(body, csr):
			http.Error(w, "what", http.StatusBadRequest)
		default:
			w.Header().Set("Content-Type", ContentTypeChain)
			_, _ = w.Write(EncodeChain(chain))
		}
	}))
	defer srv.Close()
	got, err := Request(context.Background(), srv.Client(), srv.URL+"/", "tok", csr)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0]) != "leaf" || string(got[1]) != "issuer" {
		t.Fatalf("chain %q, want leaf then issuer", got)
	}
}

func TestRequestStatus(t *testing.T) {
	for _, tc := range []struct {
		code      int
		temporary bool
	}{
		{http.StatusUnauthorized, false},
		{http.StatusForbidden, false},
		{http.StatusBadRequest, false},
		{http.StatusServiceUnavailable, true},
		{http.StatusTooManyRequests, true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "the reason", tc.code)
		}))
		_, err := Request(context.Background(), srv.Client(), srv.URL, "tok", []byte("csr"))
		srv.Close()
		var se *StatusError
		if !errors.As(err, &se) || se.Code != tc.code || se.Message != "the reason" || se.Temporary() != tc.temporary {
			t.Errorf("status %d: got %v, want a StatusError with the reason, temporary %v", tc.code, err, tc.temporary)
		}
	}
}

func TestRequestRefusesAnswersThatAreNotChains(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"wrong type": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(EncodeChain([][]byte{[]byte("leaf")}))
		},
		"empty": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", ContentTypeChain)
		},
		"too big": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", ContentTypeChain)
			_, _ = w.Write(EncodeChain([][]byte{make([]byte, MaxChainBytes)}))
		},
	} {
		srv := httptest.NewServer(h)
		if _, err := Request(context.Background(), srv.Client(), srv.URL, "tok", []byte("csr")); err == nil {
			t.Errorf("%s: accepted", name)
		}
		srv.Close()
	}
	if _, err := Request(context.Background(), nil, "http://127.0.0.1:1", "", []byte("csr")); err == nil {
		t.Error("no token: accepted")
	}
	if _, err := Request(context.Background(), nil, "http://127.0.0.1:1", "tok", make([]byte, MaxCSRBytes+1)); err == nil {
		t.Error("oversized request: accepted")
	}
}

func TestParseChain(t *testing.T) {
	good := EncodeChain([][]byte{{1}, {2}})
	if c, err := ParseChain(good); err != nil || len(c) != 2 {
		t.Fatalf("ParseChain(good) = %v, %v", c, err)
	}
	for name, data := range map[string][]byte{
		"empty":    nil,
		"trailing": append(bytes.Clone(good), "junk"...),
		"key":      []byte("-----BEGIN PRIVATE KEY-----\nAQ==\n-----END PRIVATE KEY-----\n"),
	} {
		if _, err := ParseChain(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseChain(f *testing.F) {
	f.Add(EncodeChain([][]byte{{1}, {2}}))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		chain, err := ParseChain(data)
		if err != nil {
			return
		}
		if len(chain) == 0 {
			t.Fatal("no error and no certificate")
		}
		again, err := ParseChain(EncodeChain(chain))
		if err != nil || len(again) != len(chain) {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
	})
}
