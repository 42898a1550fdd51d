package channel

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Settings are the MeshConfig settings proxies follow live, without a
// restart. A field a controller does not send (nil, or empty for
// LogLevel) leaves the proxy with what its arguments say: a proxy never
// turns a protection off because its controller is older than it.
type Settings struct {
	// EnableEgress is spec.traffic.enableEgress: whether a meshed pod may
	// connect to destinations outside the mesh (Index.InMesh). Excluded
	// ports and ranges never reach the proxy and stay open.
	EnableEgress bool `json:"enableEgress"`
	// PolicyWithheld says the controller left the policy out of this
	// snapshot (it would not fit): a proxy keeps the policy it holds, and
	// one that holds none yet keeps allowing nothing. It is about the
	// snapshot, not the MeshConfig, and Digest leaves it out.
	PolicyWithheld bool `json:"policyWithheld,omitempty"`
	// LogLevel is spec.sidecar.logLevel, the level a proxy goes back to
	// after a temporary change; a workload that sets its own
	// (config.meshctl.io/proxy-log-level) keeps it.
	LogLevel wire.LogLevel `json:"logLevel,omitempty"`
	// Tracing is spec.observability.tracing.
	Tracing *Tracing `json:"tracing,omitempty"`
	// JWT is spec.auth.jwt.
	JWT *JWT `json:"jwt,omitempty"`
}

// Tracing is where proxies export spans, over OTLP/HTTP; Enable false
// turns export off.
type Tracing struct {
	Enable   bool   `json:"enable"`
	Address  string `json:"address,omitempty"`
	Port     uint16 `json:"port,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
}

// JWT is the mesh's bearer-token validation: which tokens are valid, and
// which workloads require one. Enable false turns validation off
// everywhere.
type JWT struct {
	Enable    bool     `json:"enable"`
	Issuer    string   `json:"issuer,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
	JWKSURL   string   `json:"jwksURL,omitempty"`
	JWKS      string   `json:"jwks,omitempty"`
	// Destinations are the workloads that require a token; empty means
	// every meshed workload.
	Destinations []JWTDestination `json:"destinations,omitempty"`
}

// JWTDestination names workloads by the identity they run as: a
// namespace, and one ServiceAccount of it or (empty) all of them.
type JWTDestination struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount,omitempty"`
}

// RequiredBy reports whether the workload running as id must present a
// valid token: validation is on and id is one of the destinations (every
// workload when none are named).
func (j *JWT) RequiredBy(id identity.ID) bool {
	if j == nil || !j.Enable {
		return false
	}
	if len(j.Destinations) == 0 {
		return true
	}
	for _, d := range j.Destinations {
		if d.Namespace == id.Namespace() && (d.ServiceAccount == "" || d.ServiceAccount == id.ServiceAccount()) {
			return true
		}
	}
	return false
}

// DefaultSettings are what a proxy follows when a snapshot carries none.
func DefaultSettings() Settings { return Settings{EnableEgress: true} }

// maxSettingsList bounds each list of Settings: a MeshConfig's are far
// shorter, and a proxy keeps them for as long as they are in force.
const maxSettingsList = 1000

// DecodeSettings reads SettingsV1; empty is DefaultSettings. Fields it
// does not know (a newer controller's) are ignored. Settings that could
// not be followed (an unknown log level, tracing without a collector,
// JWT validation without an issuer or keys) are an error, and the proxy
// keeps those in force.
func DecodeSettings(raw json.RawMessage) (Settings, error) {
	s := DefaultSettings()
	if len(raw) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return DefaultSettings(), fmt.Errorf("snapshot settings: %w", err)
	}
	if err := s.Validate(); err != nil {
		return DefaultSettings(), fmt.Errorf("snapshot settings: %w", err)
	}
	return s, nil
}

// Validate says what in s a proxy could not follow.
func (s Settings) Validate() error {
	var errs []error
	if s.LogLevel != "" {
		if _, err := wire.ParseLogLevel(string(s.LogLevel)); err != nil {
			errs = append(errs, fmt.Errorf("logLevel: %w", err))
		}
	}
	if t := s.Tracing; t != nil && t.Enable {
		if t.Address == "" || t.Port == 0 || !strings.HasPrefix(t.Endpoint, "/") {
			errs = append(errs, errors.New("tracing: enabled without a collector address, port and endpoint path"))
		}
	}
	if j := s.JWT; j != nil && j.Enable {
		if j.Issuer == "" {
			errs = append(errs, errors.New("jwt: enabled without an issuer"))
		}
		if (j.JWKSURL == "") == (j.JWKS == "") {
			errs = append(errs, errors.New("jwt: enabled without exactly one of jwksURL and jwks"))
		}
		if len(j.Audiences) > maxSettingsList || len(j.Destinations) > maxSettingsList {
			errs = append(errs, fmt.Errorf("jwt: more than %d audiences or destinations", maxSettingsList))
		}
		for i, d := range j.Destinations {
			if d.Namespace == "" {
				errs = append(errs, fmt.Errorf("jwt: destinations[%d]: no namespace", i))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Digest identifies the MeshConfig settings s says: equal for equal
// settings whoever computes it, so `meshctl check` can tell a proxy that
// follows older settings from the MeshConfig alone. PolicyWithheld, a
// fact about one snapshot, is left out.
func (s Settings) Digest() string {
	s.PolicyWithheld = false
	b, err := json.Marshal(s)
	if err != nil {
		// Settings has no type json cannot encode.
		panic(fmt.Sprintf("channel: encoding settings: %v", err))
	}
	sum := sha256.Sum256(b)
	return hashPrefix + hex.EncodeToString(sum[:])
}
