package proxyadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// ConfigOptions are the inputs of `meshctl proxy config POD`.
type ConfigOptions struct {
	genericiooptions.IOStreams
	Target
	// Output is yaml or json.
	Output cli.Format
}

// Complete takes the pod from args and the namespace and clients from f.
func (o *ConfigOptions) Complete(f cli.Factory, args []string) error { return o.complete(f, args) }

// Validate checks the pod's name.
func (o *ConfigOptions) Validate() error { return o.validate() }

// Run reads the proxy's /config through a port-forward and prints it.
func (o *ConfigOptions) Run(ctx context.Context) error {
	c, err := o.client(ctx)
	if err != nil {
		return err
	}
	body, err := c.Get(ctx, o.Namespace, o.Pod, wire.ConfigPath)
	if err != nil {
		return err
	}
	pc, err := NewProxyConfig(body)
	if err != nil {
		return fmt.Errorf("pod %q in namespace %q: the proxy's %s: %w", o.Pod, o.Namespace, wire.ConfigPath, err)
	}
	return cli.Write(o.Out, o.Output, pc)
}

// ProxyConfig is a proxy's effective settings as its /config shows them,
// secrets already withheld by the proxy (admin.Redact). It is kept as the
// proxy wrote it rather than read into this meshctl's wire.Run, so that a
// proxy of another version shows its settings, all of them, in its own
// field order.
type ProxyConfig struct {
	raw json.RawMessage
}

// NewProxyConfig checks that body is one JSON object.
func NewProxyConfig(body []byte) (*ProxyConfig, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	return &ProxyConfig{raw: bytes.TrimSpace(body)}, nil
}

// WriteJSON writes the settings as the proxy wrote them, indented.
func (c *ProxyConfig) WriteJSON(out io.Writer) error { return cli.EncodeJSON(out, c.raw) }

// WriteYAML writes the settings as YAML; keys come sorted.
func (c *ProxyConfig) WriteYAML(out io.Writer) error {
	b, err := yaml.JSONToYAML(c.raw)
	if err != nil {
		return err
	}
	_, err = out.Write(b)
	return err
}

// WriteTable writes the human form, which is the YAML one.
func (c *ProxyConfig) WriteTable(out io.Writer) error { return c.WriteYAML(out) }
