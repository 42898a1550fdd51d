package controller

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// CABundlePatcher writes the CA bundle into every webhook of one
// MutatingWebhookConfiguration: the chart's, the only one the controller's
// role may patch.
type CABundlePatcher struct {
	// Client reads and patches the configuration.
	Client kubernetes.Interface
	// Name is the MutatingWebhookConfiguration's.
	Name string
}

// Trusts reports whether every webhook of the configuration trusts leaf
// for serverName at now, as the API server will verify it: nil when they
// all do, else an error naming the first that does not. A replica serves a
// new certificate only once this holds, so that no replica ever presents
// one the API server refuses.
func (p *CABundlePatcher) Trusts(ctx context.Context, leaf *x509.Certificate, serverName string, now time.Time) error {
	cfg, err := p.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("mutatingwebhookconfiguration %q: %w", p.Name, err)
	}
	if len(cfg.Webhooks) == 0 {
		return fmt.Errorf("mutatingwebhookconfiguration %q has no webhooks", p.Name)
	}
	for _, w := range cfg.Webhooks {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(w.ClientConfig.CABundle) {
			return fmt.Errorf("mutatingwebhookconfiguration %q, webhook %q: no caBundle yet", p.Name, w.Name)
		}
		opts := x509.VerifyOptions{Roots: roots, DNSName: serverName, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := leaf.Verify(opts); err != nil {
			return fmt.Errorf("mutatingwebhookconfiguration %q, webhook %q: its caBundle does not trust the serving certificate (serial %s) yet: %w",
				p.Name, w.Name, leaf.SerialNumber.Text(16), err)
		}
	}
	return nil
}

// Patch sets caBundle on each webhook that lacks it, and reports whether it
// changed anything. The JSON patch tests each webhook's name at its index, so
// a configuration edited between the read and the patch is refused rather
// than patched at the wrong place; the next call retries.
func (p *CABundlePatcher) Patch(ctx context.Context, caBundle []byte) (bool, error) {
	api := p.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	cfg, err := api.Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("mutatingwebhookconfiguration %q: %w", p.Name, err)
	}
	var ops []map[string]any
	for i, w := range cfg.Webhooks {
		if bytes.Equal(w.ClientConfig.CABundle, caBundle) {
			continue
		}
		ops = append(ops,
			map[string]any{"op": "test", "path": fmt.Sprintf("/webhooks/%d/name", i), "value": w.Name},
			// add sets the member whether or not the chart's empty caBundle
			// was stored; the value is base64, as []byte marshals.
			map[string]any{"op": "add", "path": fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), "value": caBundle})
	}
	if len(ops) == 0 {
		return false, nil
	}
	body, err := json.Marshal(ops)
	if err != nil {
		return false, err
	}
	if _, err := api.Patch(ctx, p.Name, types.JSONPatchType, body, metav1.PatchOptions{}); err != nil {
		return false, fmt.Errorf("mutatingwebhookconfiguration %q: patching caBundle: %w", p.Name, err)
	}
	return true, nil
}
