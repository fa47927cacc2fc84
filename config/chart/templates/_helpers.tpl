{{/* The chart's name, or nameOverride. */}}
{{- define "stepwise.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: the release's name, with the chart's in front unless it is
already there, or fullnameOverride. A release named "stepwise" gets the plain manifests' names
(stepwise-controller, stepwise-leader-election, ...). At most 44 characters, so that the longest
name, <fullname>-controller-metrics, is a valid Service name.
*/}}
{{- define "stepwise.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 44 | trimSuffix "-" }}
{{- else if contains (include "stepwise.name" .) .Release.Name }}
{{- .Release.Name | trunc 44 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "stepwise.name" .) | trunc 44 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The controller's Deployment, ServiceAccount and RBAC objects. */}}
{{- define "stepwise.controllerName" -}}
{{ include "stepwise.fullname" . }}-controller
{{- end }}

{{- define "stepwise.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "stepwise.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The controller's pods. */}}
{{- define "stepwise.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stepwise.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* The metrics Service, which the ServiceMonitor selects. */}}
{{- define "stepwise.metricsLabels" -}}
app.kubernetes.io/name: {{ include "stepwise.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: metrics
{{- end }}
