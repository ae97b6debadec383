{{/* Names ------------------------------------------------------------- */}}

{{- define "lcw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lcw.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lcw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "lcw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lukscryptwalker-csi
{{- end -}}

{{/* Selector labels of one component (node or controller). */}}
{{- define "lcw.selector" -}}
app.kubernetes.io/name: {{ include "lcw.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lcw.nodeSA" -}}{{ include "lcw.fullname" . }}-node{{- end -}}
{{- define "lcw.controllerSA" -}}{{ include "lcw.fullname" . }}-controller{{- end -}}

{{- define "lcw.secretsNamespace" -}}
{{- default .Release.Namespace .Values.secrets.namespace -}}
{{- end -}}

{{/* Images --------------------------------------------------------------- */}}

{{- define "lcw.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* A sidecar image from sidecars.<name>: repository:tag. */}}
{{- define "lcw.sidecarImage" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/* Sidecar log flag from sidecars.logVerbosity. */}}
{{- define "lcw.v" -}}
--v={{ .Values.sidecars.logVerbosity }}
{{- end -}}

{{/* Memory limit of the node driver container, in Mi:
     max(kdfBudgetMiB, 1024) + memoryHeadroomMiB, unless set explicitly. */}}
{{- define "lcw.nodeMemoryLimit" -}}
{{- $l := .Values.node.resources.limits | default dict -}}
{{- if $l.memory -}}
{{- $l.memory -}}
{{- else -}}
{{- printf "%dMi" (add (max (int .Values.node.kdfBudgetMiB) 1024) (int .Values.node.memoryHeadroomMiB)) -}}
{{- end -}}
{{- end -}}

{{/* Secret access ---------------------------------------------------------- */}}

{{/* "true" when privd needs to read Secrets from the API. */}}
{{- define "lcw.nodeSecretAccess" -}}
{{- $m := toString .Values.rbac.node.secretAccess -}}
{{- $sc := .Values.storageClasses -}}
{{- if eq $m "true" -}}true
{{- else if eq $m "false" -}}
{{- else if or (and $sc.local.enabled (eq $sc.local.passphraseFrom "driver")) $sc.s3.enabled -}}true
{{- end -}}
{{- end -}}

{{/* "true" when csi-provisioner needs to read provisioner secrets. */}}
{{- define "lcw.controllerSecretAccess" -}}
{{- $m := toString .Values.rbac.controller.secretAccess -}}
{{- if eq $m "true" -}}true
{{- else if eq $m "false" -}}
{{- else if .Values.storageClasses.s3.enabled -}}true
{{- end -}}
{{- end -}}

{{/* The node's projected service-account token, mounted only into the
     containers that call the API (automountServiceAccountToken is off). */}}
{{- define "lcw.tokenVolume" -}}
- name: api-token
  projected:
    defaultMode: 0444
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                fieldPath: metadata.namespace
{{- end -}}

{{- define "lcw.tokenMount" -}}
- name: api-token
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end -}}

{{/* Security context of an unprivileged, non-root container. */}}
{{- define "lcw.restrictedContainer" -}}
runAsNonRoot: true
runAsUser: 65534
runAsGroup: 65534
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* StorageClass parameters that carry the passphrase reference. */}}
{{- define "lcw.passphraseParams" -}}
{{- $ns := include "lcw.secretsNamespace" .root -}}
{{- $p := .root.Values.secrets.passphrase -}}
{{- if eq .class.passphraseFrom "driver" -}}
passphrase-secret-name: {{ $p.name | quote }}
passphrase-secret-namespace: {{ $ns | quote }}
{{- else -}}
csi.storage.k8s.io/node-stage-secret-name: {{ $p.name | quote }}
csi.storage.k8s.io/node-stage-secret-namespace: {{ $ns | quote }}
{{- end }}
passphraseKey: {{ $p.key | quote }}
{{- end -}}
