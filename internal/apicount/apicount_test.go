package apicount

import (
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func TestKey(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/api/v1/namespaces/shop/pods", "LIST pods"},
		{"GET", "/api/v1/pods", "LIST pods"},
		{"GET", "/api/v1/namespaces/shop/pods/web-1", "GET pods"},
		{"POST", "/api/v1/namespaces/shop/pods/web-1/portforward", "POST pods/portforward"},
		{"GET", "/apis/apps/v1/namespaces/shop/replicasets", "LIST replicasets"},
		{"GET", "/apis/apps/v1/deployments", "LIST deployments"},
		{"GET", "/api/v1/namespaces", "LIST namespaces"},
		{"GET", "/api/v1/namespaces/shop", "GET namespaces"},
		{"GET", "/apis", ""},
		{"GET", "/api/v1", ""},
	} {
		got, ok := Key(tc.method, tc.path)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Key(%s %s) = %q, %v; want %q", tc.method, tc.path, got, ok, tc.want)
		}
	}
}
