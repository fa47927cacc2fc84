#!/usr/bin/env bash
# The hellok8s story on the local cluster, told with real kubectl and the kubectl-stepwise
# plugin: v1 → v2 a few pods at a time → a bad version that stalls while v1 serves → undo →
# history → undo --to-revision. Run through `make demo`, which starts the cluster, installs the
# CRD and builds bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
export KUBECONFIG=$PWD/.local/kubeconfig PATH=$PWD/bin:$PATH
NS=demo

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# manifest TAG [extra pod label]: the sample with a 1s readiness delay, so waves can be seen.
manifest() {
  sed -e "s|guangzhengli/hellok8s:v1|guangzhengli/hellok8s:$1|" \
      -e "s|^  name: hellok8s$|  name: hellok8s\n  annotations:\n    kubernetes.io/change-cause: release $1|" \
      -e "s|^spec:$|spec:\n  progressDeadlineSeconds: 10|" \
      -e "s|^        app: hellok8s$|        app: hellok8s${2:+\n        $2}\n      annotations:\n        pod-ready.stage.kwok.x-k8s.io/delay: 1s|" \
      config/samples/hellok8s.yaml
}

bin/stepwise-controller --health-probe-bind-address=127.0.0.1:0 >.local/demo-controller.log 2>&1 &
controller=$!
trap 'kill $controller 2>/dev/null; kubectl delete namespace $NS --wait=false >/dev/null 2>&1 || true' EXIT
kubectl delete namespace $NS --ignore-not-found --wait=true >/dev/null
kubectl create namespace $NS >/dev/null
kubectl config set-context --current --namespace=$NS >/dev/null

step "hellok8s v1 with 3 replicas (maxSurge 1, maxUnavailable 1)"
manifest v1 | run kubectl apply -f -
run kubectl stepwise status hellok8s --timeout=2m
run kubectl get rollout hellok8s

step "v2: pods are replaced a few at a time (never more than 4, never fewer than 2 available)"
manifest v2 | run kubectl apply -f -
kubectl stepwise get hellok8s --watch --timeout=20s &
watcher=$!
run kubectl stepwise status hellok8s --timeout=2m
kill $watcher 2>/dev/null || true; wait $watcher 2>/dev/null || true

step "v3 is bad: its readiness probe never passes; it never takes traffic, v2 keeps serving"
manifest v3 'stepwise.dev/never-ready: "true"' | run kubectl apply -f -
run kubectl stepwise status hellok8s --timeout=2m || echo "(the rollout failed, as it should)"
run kubectl stepwise get hellok8s

step "undo: back to the previous revision"
run kubectl stepwise undo hellok8s
run kubectl stepwise status hellok8s --timeout=2m
run kubectl stepwise history hellok8s

step "undo --to-revision=1: bring v1 back; it becomes the newest revision"
run kubectl stepwise undo hellok8s --to-revision=1
run kubectl stepwise status hellok8s --timeout=2m
run kubectl stepwise history hellok8s
run kubectl stepwise get hellok8s
