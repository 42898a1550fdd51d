package auth

import (
	"context"
	"net/http"
	"sync/atomic"
)

// Switch is the validator in force, which the MeshConfig's settings,
// arriving over the channel, replace or remove while the proxy runs. With
// none in force every request passes. Each request reads it once per
// check, an atomic load, so a request is decided by one validator or the
// next, never by a half-built one.
type Switch struct {
	v atomic.Pointer[Validator]
}

// NewSwitch is a Switch with v in force (none when nil).
func NewSwitch(v *Validator) *Switch {
	s := &Switch{}
	s.v.Store(v)
	return s
}

// Set puts v in force; nil turns validation off.
func (s *Switch) Set(v *Validator) { s.v.Store(v) }

// Current is the validator in force, nil when none.
func (s *Switch) Current() *Validator { return s.v.Load() }

// Check is Validator.Check of the validator in force.
func (s *Switch) Check(r *http.Request) error {
	if v := s.v.Load(); v != nil {
		return v.Check(r)
	}
	return nil
}

// CheckAuthorization is Validator.CheckAuthorization of the validator in
// force.
func (s *Switch) CheckAuthorization(ctx context.Context, authorization string) error {
	if v := s.v.Load(); v != nil {
		return v.CheckAuthorization(ctx, authorization)
	}
	return nil
}

// Reject answers a request that did not pass, as Validator.Reject.
func (s *Switch) Reject(w http.ResponseWriter, err error) { Reject(w, err) }

// Exempt is Validator.Exempt of the validator in force; with none, every
// request is exempt, so that no check is even started.
func (s *Switch) Exempt(method string, port uint16, path string) bool {
	if v := s.v.Load(); v != nil {
		return v.Exempt(method, port, path)
	}
	return true
}
