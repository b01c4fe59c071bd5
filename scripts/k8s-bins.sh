#!/usr/bin/env bash
# Builds the Kubernetes API server and etcd that the kubelet tests run
# against, from the Go module proxy, once; later calls reuse the cache.
# Prints the directory that holds them (KUBEBUILDER_ASSETS-style: etcd and
# kube-apiserver side by side). With --scheduler it also builds
# kube-scheduler there (only the opt-in agent-sandbox controller test needs
# a scheduler; make test does not build it).
set -euo pipefail
scheduler=
if [ "${1:-}" = --scheduler ]; then scheduler=1; fi
cd "$(dirname "$0")/.."
tools=test/k8s/tools
key=$(sha256sum "$tools/go.mod" "$tools/go.sum" | sha256sum | cut -c1-16)
# The cache lives outside the clone (like the test guest's), so every clone on
# a machine shares one build.
out=${K8S_BIN_CACHE:-${TMPDIR:-/tmp}/volant-k8s-bins}/$key
build_scheduler() {
  if [ -n "$scheduler" ] && [ ! -x "$out/kube-scheduler" ]; then
    echo "k8s-bins: building kube-scheduler into $out (once)" >&2
    (cd "$tools" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/kube-scheduler.tmp" k8s.io/kubernetes/cmd/kube-scheduler)
    mv "$out/kube-scheduler.tmp" "$out/kube-scheduler"
  fi
}
if [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ]; then
  build_scheduler
  echo "$out"
  exit 0
fi
mkdir -p "$out.tmp"
echo "k8s-bins: building kube-apiserver and etcd into $out (once; several minutes)" >&2
(cd "$tools" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
(cd "$tools" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3)
rm -rf "$out"
mv "$out.tmp" "$out"
build_scheduler
echo "$out"
