{{/*
Names. The release's full name is the prefix of every object: swarmscope-ingest, swarmscope-config,
... for a release named swarmscope (the names deploy/k8s uses).
*/}}
{{- define "swarmscope.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "swarmscope.fullname" -}}
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

{{/* The name of one part: (dict "root" $ "component" "ingest") → swarmscope-ingest. */}}
{{- define "swarmscope.componentName" -}}
{{- printf "%s-%s" (include "swarmscope.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "swarmscope.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "swarmscope.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Labels: app.kubernetes.io/name is the part (ingest, store, ...), as in deploy/k8s; the selector is
name + instance, so two releases can share a namespace.
(dict "root" $ "component" "ingest" "tier" "pipeline")
*/}}
{{- define "swarmscope.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{- define "swarmscope.labels" -}}
{{ include "swarmscope.selectorLabels" . }}
app.kubernetes.io/part-of: swarmscope
{{- with .tier }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of release-wide objects (ConfigMap, ServiceAccount, policies). */}}
{{- define "swarmscope.commonLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: swarmscope
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* A swarmscope image: (dict "root" $ "service" "ingest"). Never latest: the tag defaults to the appVersion. */}}
{{- define "swarmscope.image" -}}
{{- $image := .root.Values.image -}}
{{- $tag := default .root.Chart.AppVersion $image.tag -}}
{{- if eq $tag "latest" }}{{ fail "image.tag: latest is refused (a node keeps a stale image); name a release" }}{{ end -}}
{{- printf "%s%s/%s:%s" $image.registry $image.repository .service $tag }}
{{- end }}

{{/* NATS: the subchart's Service (named as the official chart names it) or the external URL. */}}
{{- define "swarmscope.natsFullname" -}}
{{- if .Values.nats.fullnameOverride }}
{{- .Values.nats.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains "nats" .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-nats" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "swarmscope.natsUrl" -}}
{{- if .Values.nats.enabled }}
{{- printf "nats://%s:4222" (include "swarmscope.natsFullname" .) }}
{{- else }}
{{- required "nats.external.url is required when nats.enabled is false" .Values.nats.external.url }}
{{- end }}
{{- end }}

{{/* KEDA runs in its own namespace: the monitoring endpoint is fully qualified. */}}
{{- define "swarmscope.natsMonitoringEndpoint" -}}
{{- if .Values.nats.enabled }}
{{- printf "%s-headless.%s.svc.cluster.local:8222" (include "swarmscope.natsFullname" .) .Release.Namespace }}
{{- else if .Values.nats.external.monitoringEndpoint }}
{{- .Values.nats.external.monitoringEndpoint }}
{{- else }}
{{- printf "nats-headless.%s.svc.cluster.local:8222" .Release.Namespace }}
{{- end }}
{{- end }}

{{/* Postgres: the Secret and key holding the database URL. */}}
{{- define "swarmscope.databaseSecretName" -}}
{{- if .Values.postgres.cnpg.enabled }}
{{- printf "%s-app" (include "swarmscope.componentName" (dict "root" . "component" "pg")) }}
{{- else if .Values.postgres.external.existingSecret }}
{{- .Values.postgres.external.existingSecret }}
{{- else }}
{{- include "swarmscope.componentName" (dict "root" . "component" "database") }}
{{- end }}
{{- end }}

{{- define "swarmscope.databaseSecretKey" -}}
{{- if and (not .Values.postgres.cnpg.enabled) .Values.postgres.external.existingSecret }}{{ default "uri" .Values.postgres.external.existingSecretKey }}{{ else }}uri{{ end }}
{{- end }}

{{- define "swarmscope.databaseUrlEnv" -}}
- name: SWARMSCOPE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "swarmscope.databaseSecretName" . }}
      key: {{ include "swarmscope.databaseSecretKey" . }}
{{- end }}

{{- define "swarmscope.redisUrl" -}}
{{- if .Values.redis.enabled }}
{{- printf "redis://%s:6379/0" (include "swarmscope.componentName" (dict "root" . "component" "redis")) }}
{{- else }}
{{- .Values.redis.externalUrl }}
{{- end }}
{{- end }}

{{/* The gateway's Secret (api-keys, token-secret). */}}
{{- define "swarmscope.gatewaySecretName" -}}
{{- default (include "swarmscope.componentName" (dict "root" . "component" "gateway")) .Values.gateway.auth.existingSecret }}
{{- end }}

{{/* The browser origins of the public entry, for the gateway's WebSocket origin check. */}}
{{- define "swarmscope.allowedOrigins" -}}
{{- $origins := list }}
{{- if .Values.ingress.enabled }}
{{- $origins = append $origins (printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host) }}
{{- end }}
{{- if .Values.httpRoute.enabled }}
{{- range .Values.httpRoute.hostnames }}
{{- $origins = append $origins (printf "%s://%s" (ternary "https" "http" $.Values.httpRoute.https) .) }}
{{- end }}
{{- end }}
{{- concat $origins .Values.config.allowedOrigins | uniq | join "," }}
{{- end }}

{{/* NATS server pods, for the network policies. */}}
{{- define "swarmscope.natsPodLabels" -}}
{{- $labels := deepCopy .Values.networkPolicy.natsPodLabels }}
{{- if .Values.nats.enabled }}
{{- $_ := set $labels "app.kubernetes.io/instance" .Release.Name }}
{{- end }}
{{- toYaml $labels }}
{{- end }}

{{/*
One Python service's Deployment: (dict "root" $ "service" "ingest" "port" 8101 "tier" "pipeline"
"values" .Values.ingest "autoscaled" bool "env" <rendered env entries> "preStop" bool).
The drain on SIGTERM (stop fetching, finish and ack the batch, drain NATS) takes up to
config.shutdownGraceSeconds (20 s); the grace period adds the preStop pause and a margin.
*/}}
{{- define "swarmscope.serviceDeployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $ctx := dict "root" $root "component" .service "tier" .tier -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "swarmscope.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "swarmscope.labels" $ctx | nindent 4 }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    {{- if $v.strategy }}
    {{- toYaml $v.strategy | nindent 4 }}
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
    {{- end }}
  selector:
    matchLabels:
      {{- include "swarmscope.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "swarmscope.labels" $ctx | nindent 8 }}
      annotations:
        # A changed setting rolls the pods.
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "swarmscope.serviceAccountName" $root }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ add $root.Values.config.shutdownGraceSeconds 15 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "swarmscope.selectorLabels" $ctx | nindent 14 }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .service }}
          image: {{ include "swarmscope.image" (dict "root" $root "service" .service) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          envFrom:
            - configMapRef:
                name: {{ include "swarmscope.componentName" (dict "root" $root "component" "config") }}
          env:
            - name: SWARMSCOPE_{{ upper .service }}_PORT
              value: {{ .port | quote }}
            {{- with .env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: http
              containerPort: {{ .port }}
            {{- with .extraPorts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          # The HTTP side starts once NATS is reached and the streams provisioned: give that time
          # (NATS may still be electing stream leaders after a rollout) before liveness applies.
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 2
            failureThreshold: 150
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          {{- if .preStop }}
          # Let the Service stop routing here before the process drains (endpoint removal is async).
          lifecycle:
            preStop:
              exec:
                command: ["sleep", "5"]
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
{{- end }}

{{/* A Service in front of a Deployment's http port: (dict "root" $ "component" "ingest" "port" 8101 "metrics" true). */}}
{{- define "swarmscope.service" -}}
{{- $ctx := dict "root" .root "component" .component -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "swarmscope.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "swarmscope.labels" $ctx | nindent 4 }}
    {{- if .metrics }}
    swarmscope.io/metrics: "true"
    {{- end }}
  {{- with .annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with .type }}
  type: {{ . }}
  {{- end }}
  selector:
    {{- include "swarmscope.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
    {{- with .extraPorts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{/* A ScaledObject on a durable's lag: (dict "root" $ "component" "ingest" "stream" "TRACES_RAW" "values" .Values.ingest.keda). */}}
{{- define "swarmscope.scaledObject" -}}
{{- $ctx := dict "root" .root "component" .component -}}
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ include "swarmscope.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "swarmscope.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    name: {{ include "swarmscope.componentName" $ctx }}
  pollingInterval: 10
  cooldownPeriod: 300
  minReplicaCount: {{ .values.minReplicas }}
  maxReplicaCount: {{ .values.maxReplicas }}
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown:
          stabilizationWindowSeconds: 300
          policies:
            - type: Pods
              value: 1
              periodSeconds: 60
  triggers:
    - type: nats-jetstream
      metadata:
        natsServerMonitoringEndpoint: {{ include "swarmscope.natsMonitoringEndpoint" .root }}
        account: $G
        stream: {{ .stream }}
        consumer: {{ .component }}
        lagThreshold: {{ .values.lagThreshold | quote }}
        activationLagThreshold: "1"
        useHttps: "false"
{{- end }}

{{/* A PodDisruptionBudget: (dict "root" $ "component" "ingest"). */}}
{{- define "swarmscope.pdb" -}}
{{- $ctx := dict "root" .root "component" .component -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "swarmscope.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "swarmscope.labels" $ctx | nindent 4 }}
spec:
  # maxUnavailable, not minAvailable: a minAvailable of 1 would block every drain of the node a
  # single-replica service runs on.
  maxUnavailable: {{ .root.Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "swarmscope.selectorLabels" $ctx | nindent 6 }}
{{- end }}

{{/* Network policy peers: a pod of this release, (dict "name" "gateway" "release" .Release.Name); a namespace. */}}
{{- define "swarmscope.netpolPod" -}}
podSelector:
  matchLabels:
    app.kubernetes.io/name: {{ .name }}
    app.kubernetes.io/instance: {{ .release }}
{{- end }}
{{- define "swarmscope.netpolNamespace" -}}
namespaceSelector:
  matchLabels:
    kubernetes.io/metadata.name: {{ . }}
{{- end }}
