package meshconfig

import (
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshctl/meshctl/pkg/identity"
)

// Validate checks a MeshConfig the way the CRD schema does, so that a file
// can be checked without a cluster. The API server stays the authority for
// objects it stores; these are the same rules, phrased for people.
func Validate(mc *MeshConfig) field.ErrorList {
	var errs field.ErrorList
	if mc.Name != "" && mc.Name != ObjectName {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), mc.Name, "a mesh has exactly one MeshConfig and it is named "+ObjectName))
	}
	return append(errs, ValidateSpec(&mc.Spec, field.NewPath("spec"))...)
}

// ValidateSpec checks spec; errors are named from path down.
func ValidateSpec(spec *MeshConfigSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	sc := path.Child("sidecar")
	if spec.Sidecar.LogLevel != "" && !slices.Contains(LogLevels(), spec.Sidecar.LogLevel) {
		errs = append(errs, field.NotSupported(sc.Child("logLevel"), spec.Sidecar.LogLevel, LogLevels()))
	}

	tp := path.Child("traffic")
	errs = append(errs, validatePorts(spec.Traffic.InboundPortExclusionList, tp.Child("inboundPortExclusionList"))...)
	errs = append(errs, validatePorts(spec.Traffic.OutboundPortExclusionList, tp.Child("outboundPortExclusionList"))...)
	seen := map[string]bool{}
	for i, cidr := range spec.Traffic.OutboundIPRangeExclusionList {
		p := tp.Child("outboundIPRangeExclusionList").Index(i)
		if _, err := netip.ParsePrefix(cidr); err != nil {
			errs = append(errs, field.Invalid(p, cidr, "must be a CIDR such as 10.0.0.0/8"))
		}
		if seen[cidr] {
			errs = append(errs, field.Duplicate(p, cidr))
		}
		seen[cidr] = true
	}

	tr := spec.Observability.Tracing
	trp := path.Child("observability", "tracing")
	if tr.Enable && tr.Address == "" {
		errs = append(errs, field.Required(trp.Child("address"), "address is required when tracing is enabled"))
	}
	if tr.Port != 0 && (tr.Port < 1 || tr.Port > 65535) {
		errs = append(errs, field.Invalid(trp.Child("port"), tr.Port, "must be between 1 and 65535"))
	}
	if tr.Endpoint != "" && !strings.HasPrefix(tr.Endpoint, "/") {
		errs = append(errs, field.Invalid(trp.Child("endpoint"), tr.Endpoint, "must start with /"))
	}

	jwt := spec.Auth.JWT
	jp := path.Child("auth", "jwt")
	if jwt.JWKSURL != "" && !strings.HasPrefix(jwt.JWKSURL, "http://") && !strings.HasPrefix(jwt.JWKSURL, "https://") {
		errs = append(errs, field.Invalid(jp.Child("jwksURL"), jwt.JWKSURL, "must be an http:// or https:// URL"))
	}
	if jwt.Enable {
		if (jwt.JWKSURL == "") == (jwt.JWKS == "") {
			errs = append(errs, field.Invalid(jp, "", "exactly one of jwksURL and jwks is required when JWT validation is enabled"))
		}
		if jwt.Issuer == "" {
			errs = append(errs, field.Required(jp.Child("issuer"), "issuer is required when JWT validation is enabled"))
		}
	}
	for i, d := range jwt.Destinations {
		dp := jp.Child("destinations").Index(i)
		if d.Namespace == "" {
			errs = append(errs, field.Required(dp.Child("namespace"), "a destination names a namespace, and optionally one ServiceAccount of it"))
		} else if msgs := validation.IsDNS1123Label(d.Namespace); len(msgs) > 0 {
			errs = append(errs, field.Invalid(dp.Child("namespace"), d.Namespace, strings.Join(msgs, "; ")))
		}
		if d.ServiceAccount != "" {
			if msgs := validation.IsDNS1123Subdomain(d.ServiceAccount); len(msgs) > 0 {
				errs = append(errs, field.Invalid(dp.Child("serviceAccount"), d.ServiceAccount, strings.Join(msgs, "; ")))
			}
		}
	}
	errs = append(errs, validateIdentity(spec.Identity, path.Child("identity"))...)
	return errs
}

// validateIdentity checks the trust domain as a SPIFFE ID's and the
// lifetime against the bounds the signer enforces.
func validateIdentity(id IdentitySpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if id.TrustDomain != "" {
		if _, err := identity.NewID(id.TrustDomain, "ns", "sa"); err != nil {
			errs = append(errs, field.Invalid(p.Child("trustDomain"), id.TrustDomain, "must be lowercase letters, digits, '.', '-' and '_', at most 255"))
		}
	}
	if id.CertificateLifetime != "" {
		if _, err := ParseCertificateLifetime(id.CertificateLifetime); err != nil {
			errs = append(errs, field.Invalid(p.Child("certificateLifetime"), id.CertificateLifetime, err.Error()))
		}
	}
	return errs
}

func validatePorts(ports []int32, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[int32]bool{}
	for i, port := range ports {
		if port < 1 || port > 65535 {
			errs = append(errs, field.Invalid(p.Index(i), port, "must be between 1 and 65535"))
		}
		if seen[port] {
			errs = append(errs, field.Duplicate(p.Index(i), port))
		}
		seen[port] = true
	}
	return errs
}
