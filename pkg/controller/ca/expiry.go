package ca

import "time"

// ExpiryWarning is how long before it stops issuing an issuer is warned
// about at most: 30 days, the window cert-manager users alert on and well
// after the point where cert-manager (which renews at a third of a
// certificate's life left, four months for the default one-year issuer) or
// the operator should have renewed it. A warning therefore
// means renewal failed, not that it is due.
const ExpiryWarning = 30 * 24 * time.Hour

// ExpiryWarningRepeat is how often the warning is repeated (log line and
// Event) while it holds.
const ExpiryWarningRepeat = 24 * time.Hour

// WarnBefore is how long before ChainNotAfter an issuer of the given
// lifetime is warned about: ExpiryWarning, or a third of its lifetime when
// that is shorter, so that a short-lived issuer is not warned about from
// the moment it is loaded.
func WarnBefore(lifetime time.Duration) time.Duration {
	return min(ExpiryWarning, lifetime/3)
}
