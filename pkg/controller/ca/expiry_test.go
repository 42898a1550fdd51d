package ca

import (
	"crypto/x509"
	"testing"
	"time"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func TestWarnBefore(t *testing.T) {
	day := 24 * time.Hour
	for _, tt := range []struct {
		lifetime, want time.Duration
	}{
		{365 * day, 30 * day}, // the default issuer: 30 days
		{90 * day, 30 * day},  // a third is 30 days too
		{30 * day, 10 * day},  // shorter: a third of it
		{3 * time.Hour, time.Hour},
	} {
		if got := WarnBefore(tt.lifetime); got != tt.want {
			t.Errorf("WarnBefore(%s) = %s, want %s", tt.lifetime, got, tt.want)
		}
	}
}

func TestRenewAt(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	leaf := &x509.Certificate{NotBefore: nb, NotAfter: nb.Add(24 * time.Hour)}
	if got, want := RenewAt(leaf), nb.Add(16*time.Hour); !got.Equal(want) {
		t.Errorf("RenewAt = %s, want %s", got, want)
	}
}
