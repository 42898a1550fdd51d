package identity

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// TestEveryReasonHasText: a reason added to the set without its text would
// reach logs and events as a number.
func TestEveryReasonHasText(t *testing.T) {
	seen := map[string]Reason{}
	for r := ReasonInvalidID; r <= ReasonPeerIdentity; r++ {
		text := r.Error()
		if strings.HasPrefix(text, "identity.Reason(") {
			t.Errorf("reason %d has no text", int(r))
		}
		if prev, dup := seen[text]; dup {
			t.Errorf("reasons %d and %d share the text %q", int(prev), int(r), text)
		}
		seen[text] = r
	}
}

// TestRefusalWraps: a refusal is its reason and its cause to errors.Is, and
// says both.
func TestRefusalWraps(t *testing.T) {
	err := refuseErr(ReasonUntrusted, io.ErrUnexpectedEOF, "peer %s", "x")
	if !errors.Is(err, ReasonUntrusted) || !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ReasonLeafExpired) {
		t.Errorf("errors.Is does not see exactly the reason and the cause in %v", err)
	}
	if got, want := err.Error(), ReasonUntrusted.Error()+": peer x: "+io.ErrUnexpectedEOF.Error(); got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}
