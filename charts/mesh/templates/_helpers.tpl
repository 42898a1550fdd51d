{{/*
Names and labels shared by the templates. Cluster-scoped objects carry the
mesh name, because a mesh name is unique in a cluster; namespaced ones use the
fixed names meshctl and the controller look for.
*/}}

{{- define "mesh.controllerName" -}}mesh-controller{{- end }}

{{- define "mesh.clusterRoleName" -}}meshctl-{{ .Release.Name }}-controller{{- end }}

{{- define "mesh.webhookName" -}}meshctl-{{ .Release.Name }}-sidecar-injector{{- end }}

{{- define "mesh.tlsSecretName" -}}mesh-controller-tls{{- end }}

{{/* The mesh CA's objects (pkg/meshconfig names.go): the issuer Secret and the trust bundle ConfigMap. */}}
{{- define "mesh.issuerSecretName" -}}mesh-identity-issuer{{- end }}

{{- define "mesh.trustBundleName" -}}mesh-trust-bundle{{- end }}

{{- define "mesh.proxyAPIPort" -}}9444{{- end }}

{{/* The ownership labels every object carries, so uninstall and check find them all. */}}
{{- define "mesh.labels" -}}
app.kubernetes.io/part-of: meshctl
app.kubernetes.io/managed-by: {{ .Release.Service }}
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
