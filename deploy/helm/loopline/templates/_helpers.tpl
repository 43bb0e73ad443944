{{/* Chart name, truncated to a DNS label. */}}
{{- define "loopline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name: <release>-loopline unless the release name already contains it. */}}
{{- define "loopline.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "loopline.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "loopline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loopline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "loopline.labels" -}}
helm.sh/chart: {{ include "loopline.chart" . }}
{{ include "loopline.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: loopline
{{- end }}

{{/* One service's resource name: <fullname>-<service>, within 63 characters. Args: dict root name. */}}
{{- define "loopline.componentName" -}}
{{- $prefix := include "loopline.fullname" .root | trunc (int (sub 62 (len .name))) | trimSuffix "-" }}
{{- printf "%s-%s" $prefix .name }}
{{- end }}

{{- define "loopline.componentSelectorLabels" -}}
{{ include "loopline.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "loopline.componentLabels" -}}
{{ include "loopline.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "loopline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "loopline.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "loopline.secretName" -}}
{{- default (include "loopline.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "loopline.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* A value as an env var string; whole numbers stay integers (values arrive as float64). */}}
{{- define "loopline.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) }}
{{- . | int64 | toString }}
{{- else }}
{{- . | toString }}
{{- end }}
{{- end }}

{{/* LOOPLINE_SERVICE_URLS: every enabled service with an HTTP API except the gateway itself. */}}
{{- define "loopline.serviceUrls" -}}
{{- $urls := dict }}
{{- range $name, $svc := .Values.services }}
{{- if and $svc.enabled (ne $name "gateway") (ne $name "writer") }}
{{- $_ := set $urls $name (printf "http://%s:%d" (include "loopline.componentName" (dict "root" $ "name" $name)) (int $.Values.port)) }}
{{- end }}
{{- end }}
{{- toJson $urls }}
{{- end }}

{{/* Fail early on values the services cannot run without. */}}
{{- define "loopline.validate" -}}
{{- if not .Values.kafka.bootstrapServers }}
{{- fail "kafka.bootstrapServers is required (host:port[,host:port] of your Kafka brokers)" }}
{{- end }}
{{- if hasPrefix "kafka://" .Values.kafka.bootstrapServers }}
{{- fail "kafka.bootstrapServers takes host:port[,host:port], without kafka://" }}
{{- end }}
{{- if and (not .Values.secrets.existingSecret) (not .Values.clickhouse.dsn) }}
{{- fail "clickhouse.dsn (http(s)://user:password@host:8123) or secrets.existingSecret is required" }}
{{- end }}
{{- if and .Values.clickhouse.dsn (not (regexMatch "^https?://" .Values.clickhouse.dsn)) }}
{{- fail "clickhouse.dsn must start with http:// or https:// (a ClickHouse server; chdb:// is single-process only)" }}
{{- end }}
{{- if not (hasPrefix "s3://" .Values.blobs.url) }}
{{- fail "blobs.url is required and must be s3://bucket/prefix[?endpoint=...] (pods share no filesystem)" }}
{{- end }}
{{- end }}
