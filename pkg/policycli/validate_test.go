package policycli

import (
	"errors"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/cli"
)

func TestExplainValidate(t *testing.T) {
	cases := []struct {
		o    ExplainOptions
		want string
	}{
		{ExplainOptions{To: "a/b"}, "--from and --to are required"},
		{ExplainOptions{From: "a/b", To: "a/svc/s", TCP: true, Path: "/x"}, "--tcp explains a connection"},
		{ExplainOptions{From: "a/svc/s", To: "a/b", Port: 80}, "a Service makes no requests"},
		{ExplainOptions{From: "a/b", To: "ip/1.2.3.4", Port: 80}, "policy protects meshed pods"},
		{ExplainOptions{From: "a/b", To: "a/c"}, "--port is required"},
		{ExplainOptions{From: "a/b", To: "a/c", Port: 70000}, "--port 70000"},
		{ExplainOptions{From: "a/b", To: "a/c", Port: 80, Method: "GE T"}, "is not an HTTP method"},
		{ExplainOptions{From: "a/b", To: "a/c", Port: 80, Headers: []string{"no colon"}}, "want 'Name: value'"},
		{ExplainOptions{From: "a/b", To: "a/c", Port: 80, Headers: []string{"X: a\r\nX-Role: admin"}}, "CR, LF or NUL"},
		{ExplainOptions{From: "a/b", To: "a/c", Port: 80, Headers: []string{"Host: a", "host: b"}}, "one Host"},
		{ExplainOptions{From: "pod/x", To: "a/c", Port: 80}, "no namespace"},
	}
	for _, c := range cases {
		err := c.o.Validate()
		var ue *cli.UsageError
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &ue) {
			t.Errorf("%+v: got %v, want a usage error with %q", c.o, err, c.want)
		}
	}
}
