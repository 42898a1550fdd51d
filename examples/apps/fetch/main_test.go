package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshctl/meshctl/internal/golden"
)

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		in, wantName, wantValue, wantErr string
	}{
		{"Authorization: Bearer a.b.c", "Authorization", "Bearer a.b.c", ""},
		{"x-b3-traceid:abc", "X-B3-Traceid", "abc", ""},
		{"X-Empty:", "X-Empty", "", ""},
		{"X-Spaces: \t padded \t ", "X-Spaces", "padded", ""},
		{"X-Colon: a:b", "X-Colon", "a:b", ""},
		{"NoColon", "", "", "want 'Name: value'"},
		{": value", "", "", "not a header name"},
		{"Bad Name: v", "", "", "not a header name"},
		{"X-Smuggle: a\r\nEvil: b", "", "", "control character"},
		{"X-Nul: a\x00b", "", "", "control character"},
	} {
		name, value, err := parseHeader(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseHeader(%q) err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || name != tc.wantName || value != tc.wantValue {
			t.Errorf("parseHeader(%q) = %q, %q, %v; want %q, %q", tc.in, name, value, err, tc.wantName, tc.wantValue)
		}
	}
}

// FuzzParseHeader: whatever is accepted is a header Go can send as it is,
// and parsing its canonical form gives the same header back.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"Authorization: Bearer x", "a:b", "X: \t", ":", "A\r\n: b", "Host: example.com", "é: ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, value, err := parseHeader(s)
		if err != nil {
			return
		}
		if !isToken(name) || name != http.CanonicalHeaderKey(name) {
			t.Fatalf("%q: name %q", s, name)
		}
		if strings.ContainsAny(value, "\r\n\x00") || value != strings.Trim(value, " \t") {
			t.Fatalf("%q: value %q", s, value)
		}
		n2, v2, err := parseHeader(name + ": " + value)
		if err != nil || n2 != name || v2 != value {
			t.Fatalf("%q: round trip gave %q %q %v", s, n2, v2, err)
		}
		var buf bytes.Buffer
		if err := (http.Header{name: {value}}).Write(&buf); err != nil || buf.String() != name+": "+value+"\r\n" {
			t.Fatalf("%q: net/http writes %q (%v)", s, buf.String(), err)
		}
	})
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    options
		wantErr string
	}{
		{"url only", []string{"http://books:8080/api/books/1"},
			options{method: "GET", header: http.Header{}, timeout: 5 * time.Second, url: "http://books:8080/api/books/1"}, ""},
		{"everything", []string{"-H", "Authorization: Bearer t", "-H", "X-A: 1", "-H", "x-a: 2", "-H", "Host: books.example", "-X", "POST", "-timeout", "1s", "-status-only", "-fail", "https://x/"},
			options{method: "POST", header: http.Header{"Authorization": {"Bearer t"}, "X-A": {"1", "2"}}, host: "books.example", timeout: time.Second, statusOnly: true, fail: true, url: "https://x/"}, ""},
		{"no url", nil, options{}, "want exactly one URL"},
		{"flag after url", []string{"http://x/", "-H", "A: b"}, options{}, "want exactly one URL"},
		{"not http", []string{"ftp://x/"}, options{}, "want http://"},
		{"no host", []string{"http:///path"}, options{}, "want http://"},
		{"bad header", []string{"-H", "nocolon", "http://x/"}, options{}, "want 'Name: value'"},
		{"bad method", []string{"-X", "GET /", "http://x/"}, options{}, "not a method name"},
		{"bad timeout", []string{"-timeout", "0s", "http://x/"}, options{}, "positive duration"},
		{"unknown flag", []string{"-v", "http://x/"}, options{}, "not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := parseArgs(tc.args, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.method != tc.want.method || got.host != tc.want.host || got.timeout != tc.want.timeout ||
				got.statusOnly != tc.want.statusOnly || got.fail != tc.want.fail || got.url != tc.want.url ||
				!equalHeader(got.header, tc.want.header) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(500 * time.Millisecond)
		}
		if r.Header.Get("Authorization") != "Bearer good" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mesh"`)
			http.Error(w, "unauthorized: a bearer token is required", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, r.Method+" "+r.Host+" "+r.Header.Get("X-A")+"\n")
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"ok", []string{"-H", "Authorization: Bearer good", "-H", "X-A: 1", srv.URL + "/"}, 0, "200 OK\nGET " + host + " 1\n", ""},
		{"method and host", []string{"-H", "Authorization: Bearer good", "-X", "DELETE", "-H", "Host: books.example", srv.URL + "/"}, 0, "200 OK\nDELETE books.example \n", ""},
		{"any status exits 0", []string{srv.URL + "/"}, 0, "401 Unauthorized\nunauthorized: a bearer token is required\n", ""},
		{"status only", []string{"-status-only", srv.URL + "/"}, 0, "401 Unauthorized\n", ""},
		{"fail", []string{"-fail", "-status-only", srv.URL + "/"}, 3, "401 Unauthorized\n", "answered 401 Unauthorized"},
		{"fail passes 200", []string{"-fail", "-H", "Authorization: Bearer good", srv.URL + "/"}, 0, "200 OK\nGET " + host + " \n", ""},
		{"refused", []string{"http://127.0.0.1:1/"}, 1, "", "fetch: Get \"http://127.0.0.1:1/\""},
		{"timeout", []string{"-timeout", "100ms", srv.URL + "/slow"}, 1, "", "Client.Timeout exceeded"},
		{"usage", []string{"-H", "bad", srv.URL}, 2, "", "fetch: invalid value \"bad\" for flag -H: header \"bad\": want 'Name: value'\nusage: fetch"},
		{"unknown flag", []string{"-k", srv.URL}, 2, "", "fetch: flag provided but not defined: -k\nusage: fetch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode || stdout.String() != tc.wantStdout || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tc.wantCode, tc.wantStdout, tc.wantStderr)
			}
			if tc.wantStderr == "" && stderr.Len() > 0 {
				t.Errorf("stderr %q, want nothing", stderr.String())
			}
		})
	}
}

// TestUsage pins the help text, which is what a user of `kubectl exec ...
// /fetch -h` reads.
func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &stdout, &stderr); code != 0 || stdout.Len() != 0 {
		t.Errorf("-h: exit %d, stdout %q", code, stdout.String())
	}
	golden.Assert(t, "testdata/usage.golden", stderr.Bytes())
}
