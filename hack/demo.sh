#!/usr/bin/env bash
# The cxops story in one command: a local control plane, the spare-parts shop,
# a drift that opens a remediation task, and the recovery that resolves it.
#
#   make demo                      # about four minutes
#   CXOPS_DEMO_FAST=1 make demo    # shorter intervals (used in CI)
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${CXOPS_DEMO_DIR:-.cxops-local}"
BIN="${CXOPS_DEMO_BIN:-bin/cxops-local}"
NS=default
LOG="$DIR/manager.log"
export KUBECONFIG="$DIR/kubeconfig"

say()  { printf '\n\033[1m== %s\033[0m\n' "$*"; }
hint() { printf '   $ %s\n' "$*"; }
show() { kubectl get cx -n "$NS"; }

# wait_for DESCRIPTION SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local what="$1" secs="$2"; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ -n "${MANAGER:-}" ] && ! kill -0 "$MANAGER" 2>/dev/null; then
      echo "cxops stopped while waiting for: $what" >&2
      echo "--- manager log (last 40 lines) ---" >&2
      tail -n 40 "$LOG" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$end" ]; then
      echo "timed out after ${secs}s waiting for: $what" >&2
      echo "--- manager log (last 40 lines) ---" >&2
      tail -n 40 "$LOG" >&2 || true
      return 1
    fi
    sleep 1
  done
}

jsonpath() { kubectl get "$1" -n "$NS" -o "jsonpath=$2" 2>/dev/null; }
health_is() { [ "$(jsonpath "moment/$1" '{.status.health}')" = "$2" ]; }
state_is() { [ "$(jsonpath "moment/$1" "{.status.objectives[?(@.name==\"$2\")].state}")" = "$3" ]; }
all_healthy() {
  local h
  h="$(kubectl get moments -n "$NS" -o 'jsonpath={.items[*].status.health}')"
  [ -n "$h" ] && [ "$(tr ' ' '\n' <<<"$h" | sort -u)" = "Healthy" ]
}
task_phase() { kubectl get rtask -n "$NS" -l cx.cxops.io/moment=stock-shown-is-real -o 'jsonpath={.items[*].status.phase}' 2>/dev/null; }
task_open() { [ "$(task_phase)" = "Open" ]; }
task_resolved() { [ "$(task_phase)" = "Resolved" ]; }

mkdir -p "$DIR" bin
say "Preparing the control plane (kube-apiserver and etcd; the first time builds them from source, about 10 minutes)"
if [ -z "${KUBEBUILDER_ASSETS:-}" ]; then
  # Progress on stderr; the last line of stdout is the directory of the binaries.
  KUBEBUILDER_ASSETS="$(hack/setup-envtest.sh | tail -n 1)"
  export KUBEBUILDER_ASSETS
fi
echo "   binaries in $KUBEBUILDER_ASSETS"

say "Building cxops (cmd/cxops-local: the manager on a local control plane)"
go build -o "$BIN" ./cmd/cxops-local

say "Starting cxops on a local control plane (data in $DIR)"
rm -f "$KUBECONFIG"
MANAGER=
# Every exit (the end, a failed step, a timeout, Ctrl-C) stops the manager, and with
# it etcd and kube-apiserver, and waits for it.
stop() {
  local code=$?
  trap - EXIT INT TERM
  if [ -n "$MANAGER" ] && kill -0 "$MANAGER" 2>/dev/null; then
    kill -INT "$MANAGER" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$MANAGER" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$MANAGER" 2>/dev/null || true
    wait "$MANAGER" 2>/dev/null || true
  fi
  exit "$code"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$BIN" --local --local-dir "$DIR" >"$LOG" 2>&1 &
MANAGER=$!
wait_for "the local control plane" 180 kubectl get --raw /readyz
echo "   kubectl talks to it with KUBECONFIG=$KUBECONFIG"

say "Applying the spare-parts shop: a technician's journey, five moments, four roadmap streams"
kubectl delete remediationtasks -n "$NS" --all --ignore-not-found >/dev/null
kubectl apply -n "$NS" -k config/samples
hint "kubectl apply -k config/samples"
if [ "${CXOPS_DEMO_FAST:-}" = 1 ]; then
  kubectl patch moment stock-shown-is-real -n "$NS" --type json -p '[
    {"op":"replace","path":"/spec/objectives/0/interval","value":"10s"},
    {"op":"replace","path":"/spec/objectives/0/for","value":"10s"},
    {"op":"replace","path":"/spec/objectives/0/recoverFor","value":"10s"}]' >/dev/null
fi
kubectl patch signalsource spare-parts-figures -n "$NS" --type merge \
  -p '{"spec":{"static":{"values":{"stock-accuracy":"99.8"}}}}' >/dev/null

journey_healthy() { [ "$(jsonpath journey/technician-buys-parts '{.status.health}')" = "Healthy" ]; }

say "1. Every moment is healthy"
wait_for "all moments healthy" 300 all_healthy
wait_for "the journey to be measured" 60 journey_healthy
show
echo "   (shop-prometheus is not Ready: its Secret does not exist here. That is how a missing"
echo "    reference shows: a condition with a reason, never a silent pass.)"
hint "kubectl get cx"
hint "kubectl wait --for=condition=Healthy moment --all"

say "2. Stock accuracy drops to 98.1 % (target >= 99.5 %): orders are accepted for parts that are not on the shelf"
hint "kubectl patch signalsource spare-parts-figures --type merge -p '{\"spec\":{\"static\":{\"values\":{\"stock-accuracy\":\"98.1\"}}}}'"
kubectl patch signalsource spare-parts-figures -n "$NS" --type merge \
  -p '{"spec":{"static":{"values":{"stock-accuracy":"98.1"}}}}' >/dev/null
wait_for "the objective to breach" 120 state_is stock-shown-is-real stock-accuracy Breached
kubectl get moment stock-shown-is-real -n "$NS"
echo "   Breached, not yet drifting: a breach must last 'for' before anyone is paged."

say "3. The breach lasts: the moment drifts and a remediation task opens for logistics"
wait_for "the objective to drift" 300 state_is stock-shown-is-real stock-accuracy Drifting
wait_for "the remediation task" 120 task_open
show
kubectl get rtask -n "$NS" -o wide
hint "kubectl get rtask -l cx.cxops.io/team=logistics"
hint "kubectl describe moment stock-shown-is-real"

say "4. Logistics fixes the stock sync: accuracy is back at 99.8 %"
hint "kubectl patch signalsource spare-parts-figures --type merge -p '{\"spec\":{\"static\":{\"values\":{\"stock-accuracy\":\"99.8\"}}}}'"
kubectl patch signalsource spare-parts-figures -n "$NS" --type merge \
  -p '{"spec":{"static":{"values":{"stock-accuracy":"99.8"}}}}' >/dev/null
echo "   Met again; it must stay met for 'recoverFor' before the task closes."
wait_for "the task to resolve" 300 task_resolved
wait_for "the moment to be healthy" 120 health_is stock-shown-is-real Healthy

say "5. Recovered: the task resolved itself"
show
kubectl get rtask -n "$NS"
hint "kubectl get rtask -o yaml   # opened, resolved, resolution AutoRecovered"

say "Done. Stopping cxops; the data stays in $DIR for the next 'make run'."
echo "   See it live in the browser: start cxops again on this data, then the dashboard"
echo "   (kubectl cx dashboard serves http://127.0.0.1:3100/ with the demo's kubeconfig):"
hint "make run ARGS='--local --local-dir=$DIR'                                # terminal 1"
hint "KUBECONFIG=$KUBECONFIG go run ./cmd/kubectl-cx dashboard -n $NS --open   # terminal 2"
