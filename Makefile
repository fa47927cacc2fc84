# Stepwise — a Rollout controller with Deployment semantics.
# `make help` lists the targets.

# The tools (controller-gen, helm, kwok, the local cluster's components, Prometheus) are pinned
# as `tool` and `require` lines: controller-gen and helm in go.mod, kwok and the cluster
# components (Kubernetes v1.37.2, etcd as it pins it) in test/cluster/tools/go.mod, Prometheus in
# test/prometheus/tools/go.mod. go.work puts the three modules in one build list, so one
# `go build` compiles every package they share once (Kubernetes' libraries above all) and links
# the tools side by side; the controller's tests then find those packages compiled.
LOCALBIN := $(CURDIR)/.local/bin
CLUSTER_DIR := $(CURDIR)/.local/cluster
LOCAL_KUBECONFIG := $(CURDIR)/.local/kubeconfig
CONTROLLER_GEN := $(LOCALBIN)/controller-gen
HELM := $(LOCALBIN)/helm
TOOL_MODULES := go.work go.mod go.sum test/cluster/tools/go.mod test/cluster/tools/go.sum test/prometheus/tools/go.mod test/prometheus/tools/go.sum
TOOL_PACKAGES := sigs.k8s.io/controller-tools/cmd/controller-gen helm.sh/helm/v4/cmd/helm \
	sigs.k8s.io/kwok/cmd/kwok ./test/cluster/tools/... github.com/prometheus/prometheus/cmd/prometheus
# The tools are rebuilt only when a module they are built from changes.
TOOLS_STAMP := $(LOCALBIN)/.tools-$(shell cat $(TOOL_MODULES) | sha256sum | cut -c1-16)
# -count=1: the cluster tests read inputs Go cannot track (kubectl kustomize, the binaries).
# -p 4: each cluster package waits on its own cluster much of the time, so running them four at
# once keeps 2 cores busy. -ldflags=-s -w: test binaries need no debug information, and linking
# them without it is quicker.
GO_TEST_FLAGS ?= -timeout 45m -count=1 -p 4 -ldflags='-s -w'
BENCH_FLAGS ?=
# Fuzz budgets as execution counts: a duration -fuzztime races Go's fuzz coordinator
# (golang/go#75804, unfixed in go1.26) and fails spuriously with "context deadline exceeded".
FUZZ_ROLLOUTS ?= 20000x
FUZZ_PARSING ?= 200000x

export STEPWISE_BIN_DIR := $(LOCALBIN)
export CONTROLLER_GEN

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and the ClusterRole from kubebuilder markers (the pod template's field descriptions dropped: hack/crdtrim), and the Helm chart's copies of them (hack/chartgen).
	$(CONTROLLER_GEN) rbac:roleName=stepwise-controller crd:generateEmbeddedObjectMeta=true paths="./api/..." paths="./internal/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	go run ./hack/crdtrim config/crd/bases/*.yaml
	kubectl kustomize config/crd | go run ./hack/chartgen crds > config/chart/templates/crd/crds.yaml
	go run ./hack/chartgen rules < config/rbac/role.yaml > config/chart/templates/rbac/_controller_rules.tpl

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

##@ Test

.PHONY: test
# vet after the tools: run beside their build, it would compile the libraries they share a
# second time.
test: ## Everything: unit tests, generated-file check, integration tests on the local cluster, a brief fuzz.
	$(MAKE) tools
	go vet ./...
	go test $(GO_TEST_FLAGS) ./...
	$(MAKE) fuzz

.PHONY: fuzz
fuzz: ## Run each fuzz target for a fixed number of executions; failures are kept in testdata/fuzz.
	go test -run='^$$' -fuzz='^FuzzRolloutKeepsBounds$$' -fuzztime=$(FUZZ_ROLLOUTS) ./internal/planner/
	go test -run='^$$' -fuzz='^FuzzScaledValue$$' -fuzztime=$(FUZZ_PARSING) ./internal/planner/

.PHONY: test-differential
test-differential: tools ## The full differential matrix against the built-in Deployment controller, and the other tests of bounds (hellok8s, resizes, canary steps, partition); TERMINATION_DELAY=2s keeps deleted pods terminating for 2 s.
	STEPWISE_DIFFERENTIAL=full STEPWISE_TERMINATION_DELAY=$(TERMINATION_DELAY) go test -count=1 -timeout 60m -v \
		-run 'TestDifferentialAgainstDeployment|TestHellok8sStory|TestScalingMidRollout|TestCanarySteps|TestPartition' ./internal/controller/rollout/

KUBERNETES_VERSION ?= 1.34.4
COMPAT_DIR = $(CURDIR)/.local/k8s/$(KUBERNETES_VERSION)

.PHONY: test-compat
test-compat: tools ## The integration, e2e and install tests on a cluster of KUBERNETES_VERSION (1.34.4, 1.35.4, 1.36.3, 1.37.2), its components built into .local/k8s/VERSION once (docs/compatibility.md).
	hack/compat-tools.sh $(KUBERNETES_VERSION) $(COMPAT_DIR)
	STEPWISE_BIN_DIR=$(COMPAT_DIR)/bin go test $(GO_TEST_FLAGS) ./internal/controller/rollout/ ./test/e2e/ ./test/install/

.PHONY: bench
bench: tools ## Benchmark Stepwise against the built-in Deployment controller (about an hour; BENCH_FLAGS="-matrix full" for every case); results in .local/bench/ (BENCH_FLAGS="-out DIR" to keep them elsewhere).
	go run ./test/bench/cmd/bench -out .local/bench $(BENCH_FLAGS)

.PHONY: test-unit
test-unit: ## Pure packages only, no cluster.
	go test ./internal/planner/... ./internal/revision/... ./internal/status/... ./internal/controller/freshness/... ./internal/plugin/... ./test/architecture/...

##@ Build

.PHONY: build
build: ## Build bin/stepwise-controller and the kubectl plugin bin/kubectl-stepwise.
	go build -o bin/stepwise-controller ./cmd/manager
	go build -o bin/kubectl-stepwise ./cmd/kubectl-stepwise

.PHONY: demo
demo: cluster-up build ## Tell the hellok8s story on the local cluster with kubectl and the plugin.
	KUBECONFIG=$(LOCAL_KUBECONFIG) $(MAKE) install
	hack/demo.sh

.PHONY: demo-analysis
demo-analysis: cluster-up build ## Show a canary judged by a real Prometheus on the local cluster: a good version completes, a bad one is aborted.
	KUBECONFIG=$(LOCAL_KUBECONFIG) $(MAKE) install
	hack/demo-analysis.sh

.PHONY: run
run: ## Run the controller against $KUBECONFIG, or against the local cluster (started, CRDs installed) when KUBECONFIG is unset.
ifeq ($(KUBECONFIG),)
	$(MAKE) cluster-up install KUBECONFIG=$(LOCAL_KUBECONFIG)
	KUBECONFIG=$(LOCAL_KUBECONFIG) go run ./cmd/manager --health-probe-bind-address=127.0.0.1:0 --zap-log-level=2
else
	go run ./cmd/manager --health-probe-bind-address=127.0.0.1:0 --zap-log-level=2
endif

.PHONY: docker-build
docker-build: ## Build the controller image (needs a container engine).
	docker build -t $(IMG) .

##@ Local cluster

.PHONY: cluster-up
cluster-up: tools ## Start the local cluster in the background (idempotent); kubeconfig at .local/kubeconfig.
	go run ./test/cluster/localcluster up -dir $(CLUSTER_DIR) -kubeconfig $(LOCAL_KUBECONFIG)

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and remove its data.
	go run ./test/cluster/localcluster down -dir $(CLUSTER_DIR)

##@ Deployment

.PHONY: install
install: ## Install the CRDs into the cluster of the current KUBECONFIG.
	kubectl apply --server-side --force-conflicts -k config/crd

.PHONY: uninstall
uninstall: ## Remove the CRDs (and every Rollout) from the cluster of the current KUBECONFIG.
	kubectl delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: ## Deploy the controller (CRDs, RBAC, Deployment) to the cluster of the current KUBECONFIG.
	kubectl apply --server-side --force-conflicts -k config/default

.PHONY: undeploy
undeploy: ## Remove what deploy created.
	kubectl delete --ignore-not-found -k config/default

.PHONY: build-installer
build-installer: ## Render the single install manifest dist/install.yaml from config/default.
	mkdir -p dist
	kubectl kustomize config/default > dist/install.yaml

.PHONY: helm-chart
helm-chart: $(HELM) ## Package the Helm chart (source: config/chart) into dist/stepwise-<version>.tgz.
	mkdir -p dist
	$(HELM) package config/chart --destination dist

##@ Tools

.PHONY: tools
tools: $(TOOLS_STAMP) ## Build controller-gen, helm, kwok, the cluster components and Prometheus into .local/bin.

$(CONTROLLER_GEN) $(HELM): $(TOOLS_STAMP)

# remove_all_sd leaves out of Prometheus every service discovery but file and HTTP, and the
# clients they compile: the tests scrape static targets.
$(TOOLS_STAMP): $(TOOL_MODULES)
	mkdir -p $(LOCALBIN)
	go build -ldflags=-s -tags remove_all_sd -o $(LOCALBIN)/ $(TOOL_PACKAGES)
	rm -f $(LOCALBIN)/.tools-* $(LOCALBIN)/.cluster-tools-*
	touch $@
