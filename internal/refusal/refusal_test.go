package refusal

import (
	"errors"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func TestUnwrapsToReasonAndCause(t *testing.T) {
	reason, cause, other := errors.New("bad name"), errors.New("parse error"), errors.New("other")
	err := Wrap(reason, cause, "field %q", "tls.crt")
	if !errors.Is(err, reason) || !errors.Is(err, cause) || errors.Is(err, other) {
		t.Errorf("Wrap: errors.Is reason %v, cause %v, other %v", errors.Is(err, reason), errors.Is(err, cause), errors.Is(err, other))
	}
	if got, want := err.Error(), `bad name: field "tls.crt": parse error`; got != want {
		t.Errorf("Wrap text = %q, want %q", got, want)
	}
	err = New(reason, "n=%d", 2)
	if !errors.Is(err, reason) || errors.Is(err, cause) || err.Error() != "bad name: n=2" {
		t.Errorf("New = %q", err)
	}
}
