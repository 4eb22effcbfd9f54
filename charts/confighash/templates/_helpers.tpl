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
{{- $never := include "confighash.excludedNamespaces" . | fromJsonArray }}
{{- printf "%s,kubernetes.io/metadata.name notin (%s)" $inject (join "," $never) }}
{{- end }}
{{- end }}

{{/*
Namespaces the webhook and the watcher never select, as a JSON array: the control plane's,
the release's own, webhook.namespaceSelector.excludeNamespaces, and with mode optOut and
failurePolicy Fail also failClosedExcludeNamespaces (cert-manager, meshes, CNIs), which a
fail-closed webhook would otherwise keep from starting.
*/}}
{{- define "confighash.excludedNamespaces" -}}
{{- $selector := .Values.webhook.namespaceSelector }}
{{- $never := concat (list "kube-system" "kube-node-lease" "kube-public" .Release.Namespace) $selector.excludeNamespaces }}
{{- if and (eq $selector.mode "optOut") (eq .Values.webhook.failurePolicy "Fail") }}
{{- $never = concat $never ($selector.failClosedExcludeNamespaces | default list) }}
{{- end }}
{{- $never | uniq | toJson }}
{{- end }}

{{/*
Non-empty when the pods must never share a node: podAntiAffinity "required", or an
explicit affinity with a required pod anti-affinity term.
*/}}
{{- define "confighash.requiredAntiAffinity" -}}
{{- if .Values.affinity }}
{{- if and .Values.affinity.podAntiAffinity .Values.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution }}true{{ end }}
{{- else if eq .Values.podAntiAffinity "required" }}true
{{- end }}
{{- end }}

{{/*
The host part of --listen and --metrics-listen: server.listenAddress, bracketed when it is
an IPv6 address.
*/}}
{{- define "confighash.listenHost" -}}
{{- $address := .Values.server.listenAddress | toString }}
{{- if contains ":" $address }}[{{ $address }}]{{ else }}{{ $address }}{{ end }}
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
{{- if not (regexMatch "^[0-9]+(ms|s|m|h)$" $value) }}
{{- fail (printf "%s must be a whole number and one unit (ms, s, m or h), like 2s or 1500ms; got %q" $key $value) }}
{{- end }}
{{- $n := regexFind "^[0-9]+" $value | int64 }}
{{- if hasSuffix "ms" $value }}{{ $n }}
{{- else if hasSuffix "s" $value }}{{ mul $n 1000 }}
{{- else if hasSuffix "h" $value }}{{ mul $n 3600000 }}
{{- else }}{{ mul $n 60000 }}
{{- end }}
{{- end }}

{{/*
Checks of values that would otherwise render a chart that installs but misbehaves.
Included once, from deployment.yaml.
*/}}
{{- define "confighash.validate" -}}
{{- if eq .Values.scope "namespaces" }}
{{- if not .Values.namespaces }}
{{- fail "scope: namespaces needs the namespaces confighash may act in, e.g. namespaces: [shop, payments]" }}
{{- end }}
{{- if .Values.watch.namespaceSelector }}
{{- fail "watch.namespaceSelector cannot be used with scope: namespaces: the watcher follows exactly the listed namespaces" }}
{{- end }}
{{- else if .Values.namespaces }}
{{- fail "namespaces is used only with scope: namespaces; set scope: namespaces, or remove namespaces" }}
{{- end }}
{{- $lookupMs := include "confighash.durationMs" (list "server.lookupTimeout" .Values.server.lookupTimeout) | int64 }}
{{- $drainMs := include "confighash.durationMs" (list "server.drainTimeout" .Values.server.drainTimeout) | int64 }}
{{- $timeout := .Values.webhook.timeoutSeconds | int64 }}
{{- if or (lt $timeout 1) (gt $timeout 29) }}
{{- fail (printf "webhook.timeoutSeconds must be between 1 and 29 (some managed platforms refuse cluster upgrades at 30); got %v" .Values.webhook.timeoutSeconds) }}
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
{{- if lt (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount must be at least 1: with no pod every admission in the selected namespaces waits webhook.timeoutSeconds (or, with failurePolicy Fail, is refused); got %v" .Values.replicaCount) }}
{{- end }}
{{- $address := .Values.server.listenAddress | toString }}
{{- if not (regexMatch "^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$" $address) }}
{{- fail (printf "server.listenAddress must be an IP address such as \"::\" (IPv4 and IPv6) or \"0.0.0.0\", without brackets or port; got %q" $address) }}
{{- end }}
{{- range $key, $port := dict "containerPorts.webhook" .Values.containerPorts.webhook "containerPorts.metrics" .Values.containerPorts.metrics "hostNetwork.webhookPort" .Values.hostNetwork.webhookPort "hostNetwork.metricsPort" .Values.hostNetwork.metricsPort "service.port" .Values.service.port "service.metricsPort" .Values.service.metricsPort }}
{{- if or (lt (int $port) 1) (gt (int $port) 65535) }}
{{- fail (printf "%s must be a port number (1-65535); got %v" $key $port) }}
{{- end }}
{{- end }}
{{- if eq (int .Values.containerPorts.webhook) (int .Values.containerPorts.metrics) }}
{{- fail (printf "containerPorts.webhook and containerPorts.metrics must differ; both are %v" .Values.containerPorts.webhook) }}
{{- end }}
{{- if eq (int .Values.service.port) (int .Values.service.metricsPort) }}
{{- fail (printf "service.port and service.metricsPort must differ; both are %v" .Values.service.port) }}
{{- end }}
{{- if .Values.hostNetwork.enabled }}
{{- if eq (int .Values.hostNetwork.webhookPort) (int .Values.hostNetwork.metricsPort) }}
{{- fail (printf "hostNetwork.webhookPort and hostNetwork.metricsPort must differ; both are %v" .Values.hostNetwork.webhookPort) }}
{{- end }}
{{- range $key, $port := dict "hostNetwork.webhookPort" .Values.hostNetwork.webhookPort "hostNetwork.metricsPort" .Values.hostNetwork.metricsPort }}
{{- if lt (int $port) 1024 }}
{{- fail (printf "%s (%v) must be 1024 or above: the server runs as a non-root user without capabilities and cannot bind a privileged port on the node" $key $port) }}
{{- end }}
{{- if has (int $port) (list 10250 10255 10256 10257 10259 2379 2380 6443) }}
{{- fail (printf "%s (%v) is taken on the node by a Kubernetes component (kubelet, kube-proxy, the control plane); choose another port" $key $port) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (include "confighash.requiredAntiAffinity" .) .Values.updateStrategy }}
{{- $rolling := .Values.updateStrategy.rollingUpdate | default dict }}
{{- if and (ne (toString (.Values.updateStrategy.type | default "RollingUpdate")) "Recreate") (eq (toString (index $rolling "maxUnavailable" | default 0)) "0") }}
{{- fail "updateStrategy must allow an unavailable pod (rollingUpdate.maxUnavailable of 1 or more) with a required pod anti-affinity: a surge pod finds no free node when there are as many nodes as replicas, and the rollout never finishes" }}
{{- end }}
{{- end }}
{{- if .Values.watch.enabled }}
{{- range $key := list "debounce" "minRolloutInterval" "leaseDuration" }}
{{- $_ := include "confighash.durationMs" (list (printf "watch.%s" $key) (index $.Values.watch $key)) }}
{{- end }}
{{- if lt (include "confighash.durationMs" (list "watch.leaseDuration" .Values.watch.leaseDuration) | int64) 3000 }}
{{- fail (printf "watch.leaseDuration must be at least 3s (the server refuses shorter Leases); got %s" .Values.watch.leaseDuration) }}
{{- end }}
{{- if not (gt (float64 .Values.watch.maxRolloutsPerSecond) 0.0) }}
{{- fail (printf "watch.maxRolloutsPerSecond must be greater than 0; got %v" .Values.watch.maxRolloutsPerSecond) }}
{{- end }}
{{- end }}
{{- if .Values.tls.certManager.enabled }}
{{- $duration := include "confighash.durationMs" (list "tls.certManager.duration" .Values.tls.certManager.duration) | int64 }}
{{- $renewBefore := include "confighash.durationMs" (list "tls.certManager.renewBefore" .Values.tls.certManager.renewBefore) | int64 }}
{{- $caDuration := include "confighash.durationMs" (list "tls.certManager.caDuration" .Values.tls.certManager.caDuration) | int64 }}
{{- if ge $renewBefore $duration }}
{{- fail (printf "tls.certManager.renewBefore (%s) must be shorter than tls.certManager.duration (%s), or cert-manager renews forever" .Values.tls.certManager.renewBefore .Values.tls.certManager.duration) }}
{{- end }}
{{- if gt $duration $caDuration }}
{{- fail (printf "tls.certManager.duration (%s) must not exceed tls.certManager.caDuration (%s): a serving certificate cannot outlive its CA" .Values.tls.certManager.duration .Values.tls.certManager.caDuration) }}
{{- end }}
{{- end }}
{{- range .Values.server.extraArgs }}
{{- if regexMatch "^--(dev|dev-cert-dir|configmaps-from)(=|$)" (toString .) }}
{{- fail (printf "server.extraArgs must not pass %s: it is for running without a cluster, and the pod would serve a development certificate the API server does not trust" (toString .)) }}
{{- end }}
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

{{/*
PromQL label matchers that pick this release's scrape targets: the namespace, and the job
a ServiceMonitor ("<fullname>") or a PodMonitor ("<namespace>/<fullname>") gives them.
prometheusRule.selector replaces it.
*/}}
{{- define "confighash.promSelector" -}}
{{- if .Values.prometheusRule.selector -}}
{{- .Values.prometheusRule.selector -}}
{{- else -}}
namespace="{{ .Release.Namespace }}",job=~"({{ .Release.Namespace }}/)?{{ include "confighash.fullname" . }}"
{{- end -}}
{{- end }}

{{/*
The workload kinds beyond the built-in apps/v1 ones, as JSON {"kinds": [...]}, each with
group, version, kind, plural and templatePointer filled in: workloads.argoRollouts first,
then workloads.extraKinds. The webhook rules, the watcher's RBAC and the --workload-kind
flags are all rendered from this one list, so they cannot drift apart.
*/}}
{{- define "confighash.workloadKinds" -}}
{{- $kinds := list }}
{{- $given := list }}
{{- $builtIn := 0 }}
{{- if .Values.workloads.argoRollouts.enabled }}
{{- $given = append $given (dict "group" "argoproj.io" "version" "v1alpha1" "kind" "Rollout" "plural" "rollouts") }}
{{- $builtIn = 1 }}
{{- end }}
{{- $given = concat $given (.Values.workloads.extraKinds | default list) }}
{{- range $i, $k := $given }}
{{- $where := printf "workloads.extraKinds[%d]" (sub $i $builtIn) }}
{{- $group := required (printf "%s.group is required (e.g. apps.kruise.io)" $where) $k.group }}
{{- $version := required (printf "%s.version is required (e.g. v1alpha1)" $where) $k.version }}
{{- $kind := required (printf "%s.kind is required (e.g. CloneSet)" $where) $k.kind }}
{{- $plural := $k.plural | default (printf "%ss" (lower $kind)) }}
{{- $pointer := $k.templatePointer | default "/spec/template" }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" $group) }}
{{- fail (printf "%s.group must be an API group such as apps.kruise.io; got %q" $where $group) }}
{{- end }}
{{- if not (regexMatch "^v[a-z0-9]+$" $version) }}
{{- fail (printf "%s.version must look like v1 or v1alpha1; got %q" $where $version) }}
{{- end }}
{{- if not (regexMatch "^[A-Z][A-Za-z0-9]*$" $kind) }}
{{- fail (printf "%s.kind must start with an upper-case letter and hold only letters and digits; got %q" $where $kind) }}
{{- end }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $plural) }}
{{- fail (printf "%s.plural must be a lower-case DNS label; got %q" $where $plural) }}
{{- end }}
{{- if not (hasPrefix "/" $pointer) }}
{{- fail (printf "%s.templatePointer must be a JSON pointer such as /spec/template; got %q" $where $pointer) }}
{{- end }}
{{- if and (eq $group "apps") (has $kind (list "Deployment" "StatefulSet" "DaemonSet")) }}
{{- fail (printf "%s: apps %s is built in" $where $kind) }}
{{- end }}
{{- $kinds = append $kinds (dict "group" $group "version" $version "kind" $kind "plural" $plural "templatePointer" $pointer) }}
{{- end }}
{{- dict "kinds" $kinds | toJson }}
{{- end }}
