{{/*
Chart name, truncated to 63 characters (the DNS label limit of many name fields).
*/}}
{{- define "confighash.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name: "<release>-<chart>", or the release name alone when it already
contains the chart name. Truncated to 63 characters. Suffixed names below (-ca, -tls, ...)
truncate further so that they stay within 63 too.
*/}}
{{- define "confighash.fullname" -}}
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

{{/*
"<fullname>-<suffix>", shortening the full name so that the result fits in 63 characters.
Call with (list . "suffix").
*/}}
{{- define "confighash.suffixedName" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- $base := include "confighash.fullname" $ctx | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $base $suffix }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "confighash.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "confighash.labels" -}}
helm.sh/chart: {{ include "confighash.chart" . }}
{{ include "confighash.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: immutable once the Deployment exists, so never add to them.
*/}}
{{- define "confighash.selectorLabels" -}}
app.kubernetes.io/name: {{ include "confighash.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the ServiceAccount to use.
*/}}
{{- define "confighash.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "confighash.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "confighash.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/*
Ports the container listens on. In hostNetwork mode they are ports on the node.
*/}}
{{- define "confighash.webhookPort" -}}
{{- if .Values.hostNetwork.enabled }}{{ .Values.hostNetwork.webhookPort }}{{ else }}{{ .Values.containerPorts.webhook }}{{ end }}
{{- end }}

{{- define "confighash.metricsPort" -}}
{{- if .Values.hostNetwork.enabled }}{{ .Values.hostNetwork.metricsPort }}{{ else }}{{ .Values.containerPorts.metrics }}{{ end }}
{{- end }}

{{/*
TLS mount: the Secret is mounted as a directory (never subPath) so that the kubelet's
atomic symlink swap reaches the server, which reloads the pair when the contents change.
*/}}
{{- define "confighash.tlsDir" -}}
/etc/confighash/tls
{{- end }}

{{/*
Secret hash key (secrets.enabled). The chart never renders this Secret: `confighash serve`
creates it on first start (--secret-hash-key-secret) when the mounted file does not exist
yet, and reads the file from then on. A templated Secret would get a new random key on
every `helm template` render (Argo CD), rolling every workload that consumes a Secret.
*/}}
{{- define "confighash.hashKeySecretName" -}}
{{- default (include "confighash.suffixedName" (list . "hash-key")) .Values.secrets.hashKey.secretName }}
{{- end }}

{{/*
Where the key Secret is mounted: a directory (never subPath), optional, so that the pod
starts before the server has created the Secret and the kubelet fills it in later.
*/}}
{{- define "confighash.hashKeyDir" -}}
/etc/confighash/hash-key
{{- end }}

{{/*
Name of the Role and RoleBinding that let the server create and read its key Secret.
*/}}
{{- define "confighash.hashKeyRoleName" -}}
{{- include "confighash.suffixedName" (list . "hash-key") }}
{{- end }}

{{/*
The watcher's namespace label selector (--namespace-selector): watch.namespaceSelector,
or else the same namespaces the webhook's namespaceSelector selects, written as one
label selector string.
*/}}
{{- define "confighash.watchNamespaceSelector" -}}
{{- if .Values.watch.namespaceSelector }}
{{- .Values.watch.namespaceSelector }}
{{- else }}
{{- $inject := ternary "confighash.io/inject=enabled" "confighash.io/inject!=disabled" (eq .Values.webhook.namespaceSelector.mode "optIn") }}
{{- $never := concat (list "kube-system" "kube-node-lease" "kube-public" .Release.Namespace) .Values.webhook.namespaceSelector.excludeNamespaces | uniq }}
{{- printf "%s,kubernetes.io/metadata.name notin (%s)" $inject (join "," $never) }}
{{- end }}
{{- end }}

{{/*
Name of the watcher's Lease, and of the Role and RoleBinding that let replicas hold it.
*/}}
{{- define "confighash.watchLeaseName" -}}
{{- include "confighash.suffixedName" (list . "watcher") }}
{{- end }}

{{/*
cert-manager object names. The serving Certificate, its Secret and the CA are separate
so that the serving certificate is always issued by the CA Issuer, never self-signed.
*/}}
{{- define "confighash.selfSignedIssuerName" -}}
{{- include "confighash.suffixedName" (list . "selfsigned") }}
{{- end }}

{{- define "confighash.caCertificateName" -}}
{{- include "confighash.suffixedName" (list . "ca") }}
{{- end }}

{{- define "confighash.caIssuerName" -}}
{{- include "confighash.suffixedName" (list . "ca-issuer") }}
{{- end }}

{{- define "confighash.servingCertificateName" -}}
{{- include "confighash.suffixedName" (list . "serving") }}
{{- end }}

{{/*
Name of the Secret holding tls.crt/tls.key: cert-manager's, or the user's.
*/}}
{{- define "confighash.tlsSecretName" -}}
{{- if .Values.tls.certManager.enabled }}
{{- include "confighash.suffixedName" (list . "tls") }}
{{- else }}
{{- required "tls.existingSecret is required when tls.certManager.enabled is false: the name of a kubernetes.io/tls Secret in the release namespace (see certs/generate.sh)" .Values.tls.existingSecret }}
{{- end }}
{{- end }}

{{/*
Service DNS names, as the API server addresses the Service and as the certificate must
name it.
*/}}
{{- define "confighash.dnsNames" -}}
{{- $svc := include "confighash.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toYaml }}
{{- end }}

{{/*
A duration value ("500ms", "2s", "1m") in milliseconds. The server accepts richer
humantime forms; the chart takes one number and one unit so that it can compare the
durations with timeoutSeconds and terminationGracePeriodSeconds.
Call with (list "server.lookupTimeout" .Values.server.lookupTimeout).
*/}}
{{- define "confighash.durationMs" -}}
{{- $key := index . 0 }}
{{- $value := index . 1 | toString }}
{{- if not (regexMatch "^[0-9]+(ms|s|m)$" $value) }}
{{- fail (printf "%s must be a whole number and one unit (ms, s or m), like 2s or 1500ms; got %q" $key $value) }}
{{- end }}
{{- $n := regexFind "^[0-9]+" $value | int64 }}
{{- if hasSuffix "ms" $value }}{{ $n }}
{{- else if hasSuffix "s" $value }}{{ mul $n 1000 }}
{{- else }}{{ mul $n 60000 }}
{{- end }}
{{- end }}

{{/*
Checks of values that would otherwise render a chart that installs but misbehaves.
Included once, from deployment.yaml.
*/}}
{{- define "confighash.validate" -}}
{{- $lookupMs := include "confighash.durationMs" (list "server.lookupTimeout" .Values.server.lookupTimeout) | int64 }}
{{- $drainMs := include "confighash.durationMs" (list "server.drainTimeout" .Values.server.drainTimeout) | int64 }}
{{- $timeout := .Values.webhook.timeoutSeconds | int64 }}
{{- if or (lt $timeout 1) (gt $timeout 30) }}
{{- fail (printf "webhook.timeoutSeconds must be between 1 and 30; got %v" .Values.webhook.timeoutSeconds) }}
{{- end }}
{{- if ge $lookupMs (mul $timeout 1000) }}
{{- fail (printf "server.lookupTimeout (%s) must be shorter than webhook.timeoutSeconds (%ds), or the API server gives up before the webhook answers" .Values.server.lookupTimeout $timeout) }}
{{- end }}
{{- if ge $drainMs (mul (.Values.terminationGracePeriodSeconds | int64) 1000) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be longer than server.drainTimeout (%s), or in-flight admissions are cut off" .Values.terminationGracePeriodSeconds .Values.server.drainTimeout) }}
{{- end }}
{{- $prefix := toString .Values.server.annotationPrefix | trimSuffix "/" }}
{{- if or (gt (len $prefix) 253) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" $prefix)) }}
{{- fail (printf "server.annotationPrefix must be a DNS-1123 subdomain of at most 253 characters (lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit), or every stamped object is invalid; got %q" (toString .Values.server.annotationPrefix)) }}
{{- end }}
{{- if not (regexMatch "^[1-9][0-9]*$" (toString .Values.server.maxSources)) }}
{{- fail (printf "server.maxSources must be a whole number of at least 1; got %v" .Values.server.maxSources) }}
{{- end }}
{{- if not (has .Values.server.onLookupError (list "allow" "deny")) }}
{{- fail (printf "server.onLookupError must be allow or deny; got %q" .Values.server.onLookupError) }}
{{- end }}
{{- if not (has .Values.server.logFormat (list "json" "text")) }}
{{- fail (printf "server.logFormat must be json or text; got %q" .Values.server.logFormat) }}
{{- end }}
{{- if not (has .Values.webhook.failurePolicy (list "Ignore" "Fail")) }}
{{- fail (printf "webhook.failurePolicy must be Ignore or Fail; got %q" .Values.webhook.failurePolicy) }}
{{- end }}
{{- if not (has .Values.webhook.namespaceSelector.mode (list "optIn" "optOut")) }}
{{- fail (printf "webhook.namespaceSelector.mode must be optIn or optOut; got %q" .Values.webhook.namespaceSelector.mode) }}
{{- end }}
{{- if not (has .Values.podAntiAffinity (list "preferred" "required" "none")) }}
{{- fail (printf "podAntiAffinity must be preferred, required or none; got %q" .Values.podAntiAffinity) }}
{{- end }}
{{- range .Values.server.extraArgs }}
{{- if regexMatch "^--secret(s|-hash-key-file|-hash-key-secret)(=|$)" (toString .) }}
{{- fail (printf "server.extraArgs must not pass %s: set secrets.enabled (and secrets.hashKey.secretName), which also mounts the key and grants the RBAC" (toString .)) }}
{{- end }}
{{- end }}
{{- if .Values.secrets.enabled }}
{{- $keySecret := include "confighash.hashKeySecretName" . }}
{{- if or (gt (len $keySecret) 253) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" $keySecret)) }}
{{- fail (printf "secrets.hashKey.secretName must be a valid Secret name (lower-case DNS subdomain); got %q" $keySecret) }}
{{- end }}
{{- if eq $keySecret (include "confighash.tlsSecretName" .) }}
{{- fail (printf "secrets.hashKey.secretName (%s) must differ from the TLS Secret's name" $keySecret) }}
{{- end }}
{{- end }}
{{- if not .Values.tls.certManager.enabled }}
{{- $bundle := required "tls.caBundle is required when tls.certManager.enabled is false: the base64 PEM of the CA that signed tls.existingSecret (certs/generate.sh prints it)" .Values.tls.caBundle }}
{{- if not (hasPrefix "-----BEGIN CERTIFICATE-----" (b64dec $bundle | trim)) }}
{{- fail "tls.caBundle must be the base64 encoding of a PEM CA certificate (-----BEGIN CERTIFICATE-----...), on one line" }}
{{- end }}
{{- end }}
{{- end }}
