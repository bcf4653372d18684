{{- define "liveplane.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "liveplane.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "liveplane.labels" -}}
app.kubernetes.io/name: {{ include "liveplane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "liveplane.selector" -}}
app.kubernetes.io/name: {{ include "liveplane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "liveplane.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret holding what the chart was given inline. */}}
{{- define "liveplane.secretName" -}}
{{- printf "%s-secrets" (include "liveplane.fullname" .) -}}
{{- end -}}

{{/* Hardened defaults shared by every container. */}}
{{- define "liveplane.containerSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* Refuse shapes that cannot work, with a message that says why. */}}
{{- define "liveplane.validate" -}}
{{- $s := .Values.serve -}}
{{- if and $s.enabled (gt (int $s.replicas) 1) -}}
{{- if not (or $s.database.url $s.database.existingSecret) -}}
{{- fail "serve.replicas > 1 needs serve.database.url (PostgreSQL): replicas must share one database; SQLite is single-node" -}}
{{- end -}}
{{- if not $s.nats.urls -}}
{{- fail "serve.replicas > 1 needs serve.nats.urls (a NATS cluster with JetStream): an embedded server per replica would not be shared" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.daemon.enabled (not .Values.daemon.cluster) -}}
{{- fail "daemon.enabled needs daemon.cluster, this cluster's name (a DNS label such as eu-west-1)" -}}
{{- end -}}
{{- if and .Values.daemon.enabled (not .Values.daemon.nats.urls) -}}
{{- fail "daemon.enabled needs daemon.nats.urls: the NATS that serve uses (or serve's exposed embedded server)" -}}
{{- end -}}
{{- if not (or $s.enabled .Values.daemon.enabled) -}}
{{- fail "nothing to install: enable serve, daemon or both" -}}
{{- end -}}
{{- end -}}
