{{/* The base name of every object: the release name, or release-chart. */}}
{{- define "cxops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cxops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: cxops
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cxops
{{- end -}}

{{- define "cxops.selectorLabels" -}}
app.kubernetes.io/name: cxops
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end -}}

{{- define "cxops.serviceAccountName" -}}
{{ include "cxops.fullname" . }}-controller-manager
{{- end -}}

{{- define "cxops.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/*
GOMEMLIMIT: goMemLimit, or 90% of resources.limits.memory in MiB. Only Mi and Gi
limits are converted; anything else must set goMemLimit.
*/}}
{{- define "cxops.goMemLimit" -}}
{{- if .Values.goMemLimit -}}
{{ .Values.goMemLimit }}
{{- else -}}
{{- $limit := toString (dig "limits" "memory" "" .Values.resources) -}}
{{- $mib := 0 -}}
{{- if hasSuffix "Gi" $limit -}}
{{- $mib = mul (trimSuffix "Gi" $limit | atoi) 1024 -}}
{{- else if hasSuffix "Mi" $limit -}}
{{- $mib = trimSuffix "Mi" $limit | atoi -}}
{{- end -}}
{{- if le (int $mib) 0 -}}
{{- fail (printf "cannot derive GOMEMLIMIT from resources.limits.memory %q: use Mi or Gi, or set goMemLimit" $limit) -}}
{{- end -}}
{{ div (mul $mib 90) 100 }}MiB
{{- end -}}
{{- end -}}

{{/* The Service's DNS name, for the metrics certificate and the ServiceMonitor. */}}
{{- define "cxops.metricsServerName" -}}
{{ include "cxops.fullname" . }}-controller-manager-metrics.{{ .Release.Namespace }}.svc
{{- end -}}

{{/* A CIDR list value, validated a little: no spaces or commas inside an entry. */}}
{{- define "cxops.cidrs" -}}
{{- range . -}}
{{- if or (contains "," .) (contains " " .) (not (contains "/" .)) -}}
{{- fail (printf "%q is not a CIDR (address/prefix)" .) -}}
{{- end -}}
{{- end -}}
{{ join "," . }}
{{- end -}}
