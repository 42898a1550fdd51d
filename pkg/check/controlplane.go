package check

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

func controller(ctx context.Context, env *Env) (*appsv1.Deployment, error) {
	dep, err := env.Clients.Kube.AppsV1().Deployments(env.Namespace).Get(ctx, meshconfig.ControllerName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deployment %s/%s is missing: run `meshctl install` (or pass the right --mesh-namespace)", env.Namespace, meshconfig.ControllerName)
	}
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", env.Namespace, meshconfig.ControllerName, kube.ExplainForbidden(err, "get", "deployments.apps", env.Namespace))
	}
	return dep, nil
}

func checkControllerExists(ctx context.Context, env *Env) error {
	_, err := controller(ctx, env)
	return err
}

func checkControllerAvailable(ctx context.Context, env *Env) error {
	dep, err := controller(ctx, env)
	if err != nil {
		return err
	}
	if ok, status := kube.DeploymentStatus(dep); !ok {
		lines := []string{fmt.Sprintf("deployment %s/%s is not available: %s", dep.Namespace, dep.Name, status)}
		return fmt.Errorf("%s", strings.Join(append(lines, kube.DiagnoseDeployment(ctx, env.Clients.Kube, dep)...), "\n"))
	}
	return nil
}

func checkControlPlaneVersion(ctx context.Context, env *Env) error {
	dep, err := controller(ctx, env)
	if err != nil {
		return err
	}
	cp := dep.Labels[meshconfig.LabelVersion]
	if cp != env.CLIVersion {
		return fmt.Errorf("the control plane runs %s and this meshctl is %s: run `meshctl upgrade` with this meshctl, or use the meshctl of %s",
			orNone(cp), env.CLIVersion, orNone(cp))
	}
	return nil
}
