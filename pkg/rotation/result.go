package rotation

import (
	"fmt"
	"io"

	"github.com/meshctl/meshctl/pkg/cli"
)

// Result is what a rotation did, printed on stdout.
type Result struct {
	Mesh      string `json:"mesh"`
	Namespace string `json:"namespace"`
	// Issuer and Anchor are the certificates replaced, by fingerprint;
	// Anchor is nil unless the anchor was rotated.
	Issuer *Change `json:"issuer,omitempty"`
	Anchor *Change `json:"anchor,omitempty"`
	// Proxies is how many proxies were waited for at the last step.
	Proxies int `json:"proxies"`
}

// Change is a certificate replaced, by identity.Fingerprint; Old is empty
// when a resumed rotation found the new one in place.
type Change struct {
	Old string `json:"old,omitempty"`
	New string `json:"new"`
}

// WriteTable writes one line per certificate replaced.
func (r *Result) WriteTable(out io.Writer) error {
	var rows [][]string
	add := func(what string, c *Change) {
		if c != nil {
			rows = append(rows, []string{what, orDash(short(c.Old)), short(c.New)})
		}
	}
	add("anchor", r.Anchor)
	add("issuer", r.Issuer)
	if err := cli.WriteTable(out, []string{"ROTATED", "OLD", "NEW"}, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "%d proxies hold the new chain.\n", r.Proxies)
	return err
}

// WriteJSON writes r as one JSON document.
func (r *Result) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, r) }

// WriteYAML writes r as one YAML document.
func (r *Result) WriteYAML(out io.Writer) error { return cli.EncodeYAML(out, r) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
