{{/*
Names and labels shared by the templates. Cluster-scoped objects carry the
mesh name, because a mesh name is unique in a cluster; namespaced ones use the
fixed names meshctl and the controller look for.
*/}}

{{- define "mesh.controllerName" -}}mesh-controller{{- end }}

{{- define "mesh.clusterRoleName" -}}meshctl-{{ .Release.Name }}-controller{{- end }}

{{/* The controller's PriorityClass: the one named in the values, else the chart's own (templates/priorityclass.yaml). */}}
{{- define "mesh.priorityClassName" -}}{{ .Values.controller.priorityClassName | default (printf "meshctl-%s-controller" .Release.Name) }}{{- end }}

{{- define "mesh.webhookName" -}}meshctl-{{ .Release.Name }}-sidecar-injector{{- end }}

{{- define "mesh.tlsSecretName" -}}mesh-controller-tls{{- end }}

{{/* The mesh CA's objects (pkg/meshconfig names.go): the issuer Secret and the trust bundle ConfigMap. */}}
{{- define "mesh.issuerSecretName" -}}mesh-identity-issuer{{- end }}

{{- define "mesh.trustBundleName" -}}mesh-trust-bundle{{- end }}

{{- define "mesh.proxyAPIPort" -}}9444{{- end }}

{{/* The Lease through which the controller's replicas elect the one that does what must happen once (pkg/meshconfig LeaderLeaseName). */}}
{{- define "mesh.leaderLeaseName" -}}mesh-controller-leader{{- end }}

{{/* The meshed pods' proxies: the label the injector puts on them (meshconfig.LabelProxyVersion), the admin port's name (proxyconfig.AdminPortName), the metrics path (wire.MetricsPath); pkg/install's tests hold them to those. */}}
{{- define "mesh.proxyVersionLabel" -}}meshctl.io/proxy-version{{- end }}

{{- define "mesh.proxyAdminPortName" -}}mesh-admin{{- end }}

{{- define "mesh.proxyMetricsPath" -}}/metrics{{- end }}

{{- define "mesh.proxyMonitorName" -}}mesh-proxy{{- end }}

{{/* The controller's health and metrics port. */}}
{{- define "mesh.healthPort" -}}9090{{- end }}

{{/*
The images: <imageRegistry>/<name>:<appVersion> unless set in full. The tag
is the chart's appVersion, which the release (and meshctl, for its embedded
chart) stamps with its version, so the chart installs the images of its
own release.
*/}}
{{- define "mesh.controllerImage" -}}
{{- .Values.controller.image | default (printf "%s/mesh-controller:%s" (trimSuffix "/" .Values.imageRegistry) .Chart.AppVersion) -}}
{{- end }}

{{- define "mesh.proxyImage" -}}
{{- .Values.meshConfig.sidecar.image | default (printf "%s/mesh-proxy:%s" (trimSuffix "/" .Values.imageRegistry) .Chart.AppVersion) -}}
{{- end }}

{{/*
The labels every object carries: the ownership labels uninstall and check
select on, and the standard app.kubernetes.io and helm.sh/chart labels.
*/}}
{{- define "mesh.labels" -}}
app.kubernetes.io/part-of: meshctl
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
meshctl.io/mesh-name: {{ .Release.Name }}
{{- end }}

{{/* The controller's selector; it never changes across versions, as selectors are immutable. */}}
{{- define "mesh.controllerSelector" -}}
app.kubernetes.io/name: {{ include "mesh.controllerName" . }}
meshctl.io/mesh-name: {{ .Release.Name }}
{{- end }}

{{- define "mesh.controllerLabels" -}}
{{ include "mesh.labels" . }}
app.kubernetes.io/name: {{ include "mesh.controllerName" . }}
app.kubernetes.io/component: controller
{{- end }}

{{/*
The labels of the controller's pods: the user's podLabels under the chart's
own, which win (the selector must keep matching).
*/}}
{{- define "mesh.controllerPodLabels" -}}
{{- $own := include "mesh.controllerLabels" . | fromYaml }}
{{- toYaml (merge $own (deepCopy .Values.controller.podLabels)) }}
{{- end }}

{{/* The pods' scheduling and pulling, shared by the controller and the test pod. */}}
{{- define "mesh.podPlacement" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.controller.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.controller.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The restricted Pod Security Standard, which the control-plane namespace enforces when meshctl creates it. */}}
{{- define "mesh.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "mesh.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end }}
