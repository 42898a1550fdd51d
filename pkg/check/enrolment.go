package check

import (
	"context"
	"fmt"
	"strings"

	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// checkEnrolmentLabels warns of enrolled namespaces whose metadata the
// webhook's selector reads differently from the annotation: enrolled by a
// meshctl that wrote the annotation only (the label is missing: their pods
// are still injected, but the webhook is called for every pod even with
// injection disabled), or with the annotation edited against the label
// (the label decides). `meshctl namespace add` writes both.
func checkEnrolmentLabels(ctx context.Context, env *Env) error {
	nss, injectOnly, err := env.meshedNamespaces(ctx)
	if err != nil {
		return err
	}
	var missing, conflicting []string
	for _, ns := range nss {
		if injectOnly[ns.Name] {
			// Not enrolled: the webhook's selector does not apply.
			continue
		}
		inj := meshconfig.InjectionOf(ns.Labels, ns.Annotations)
		switch {
		case inj.LabelMissing:
			missing = append(missing, ns.Name)
		case inj.Conflict:
			conflicting = append(conflicting, fmt.Sprintf("%s (label %s, annotation %s)", ns.Name, inj.Setting, ns.Annotations[meshconfig.AnnotationSidecarInjection]))
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("namespaces enrolled by an older meshctl lack the label %s that the webhook's selector reads (injection still works; the webhook is called for all their pods): %s; enrol them again: meshctl namespace add %s",
			meshconfig.LabelSidecarInjection, nameList(missing), strings.Join(missing, " ")))
	}
	if len(conflicting) > 0 {
		problems = append(problems, fmt.Sprintf("namespaces whose %s label and annotation differ, where the label decides: %s; set both with meshctl namespace add NS (or --disable-injection)",
			meshconfig.LabelSidecarInjection, nameList(conflicting)))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}
