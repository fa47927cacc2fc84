#!/usr/bin/env bash
# Analysis on the local cluster: a canary of 10 pods goes to 20%, a real Prometheus measures its
# error rate three times, and the result decides. v2 is healthy and completes with no person
# involved; v3 fails half its requests and is aborted, every pod back on v2. Run through
# `make demo-analysis`, which starts the cluster, installs the CRDs and builds bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
export KUBECONFIG=$PWD/.local/kubeconfig PATH=$PWD/bin:$PATH STEPWISE_BIN_DIR=$PWD/.local/bin
NS=demo-analysis

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
rollout() {
  cat <<YAML
apiVersion: stepwise.dev/v1alpha1
kind: Rollout
metadata:
  name: hellok8s
spec:
  replicas: 10
  strategy:
    rollingUpdate:
      steps:
      - replicas: 20%
      - analysis:
          templates: [{templateName: error-rate}]
          args: [{name: version, value: $1}]
      - replicas: 100%
  selector:
    matchLabels: {app: hellok8s}
  template:
    metadata:
      labels: {app: hellok8s}
      annotations: {pod-ready.stage.kwok.x-k8s.io/delay: 1s}
    spec:
      containers:
      - name: hellok8s-container
        image: guangzhengli/hellok8s:$1
YAML
}

go build -o bin/demoanalysis ./hack/demoanalysis
coproc SERVERS { bin/demoanalysis 2>.local/demo-prometheus.log; }
read -r PROMETHEUS <&"${SERVERS[0]}"
bin/stepwise-controller --health-probe-bind-address=127.0.0.1:0 >.local/demo-controller.log 2>&1 &
controller=$!
trap 'kill $controller $SERVERS_PID 2>/dev/null; kubectl delete namespace $NS --wait=false >/dev/null 2>&1 || true' EXIT
kubectl delete namespace $NS --ignore-not-found --wait=true >/dev/null
kubectl create namespace $NS >/dev/null
kubectl config set-context --current --namespace=$NS >/dev/null

step "An AnalysisTemplate: the version's 5xx ratio, from a real Prometheus at $PROMETHEUS"
cat <<YAML | run kubectl apply -f -
apiVersion: stepwise.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
spec:
  args: [{name: version}]
  metrics:
  - name: error-rate
    interval: 2s
    count: 3
    successCondition: result.all(x, x < 0.05)
    provider:
      prometheus:
        address: $PROMETHEUS
        query: sum(rate(requests_total{version="{{args.version}}",code=~"5.."}[5s])) / sum(rate(requests_total{version="{{args.version}}"}[5s]))
YAML

step "v1 with 10 replicas"
rollout v1 | run kubectl apply -f -
run kubectl stepwise status hellok8s --timeout=2m

step "v2 is healthy: 20%, analysed, then everyone, with no person involved"
rollout v2 | run kubectl apply -f -
run kubectl stepwise status hellok8s --timeout=2m
run kubectl get analysisruns

step "v3 fails half its requests: the analysis fails and the rollout is aborted"
rollout v3 | run kubectl apply -f -
kubectl wait --for=condition=Paused rollout/hellok8s --timeout=2m >/dev/null
run kubectl stepwise status hellok8s --timeout=30s || echo "(the rollout was aborted, as it should)"
run kubectl get analysisruns
run kubectl stepwise get hellok8s
