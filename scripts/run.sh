#!/usr/bin/env bash
# Runs the gateway in the foreground: the fake provider on 127.0.0.1:18080 and Envoy on
# 127.0.0.1:8081 (admin 127.0.0.1:9901) with envoy/envoy.yaml. Ctrl-C stops both.
#
# Provider keys (OPENAI_API_KEY, GEMINI_API_KEY, ANTHROPIC_API_KEY, AZURE_OPENAI_API_KEY) reach only the
# upstream adapter's VM through Envoy's environment (vm_config.environment_variables of vm_id
# tollgate_upstream); they are never passed on the command line or logged. Clients authenticate with the
# demo secrets of envoy/clients.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY=${ENVOY:-.tools/venv/bin/envoy}
FAKE=target/release/fake-provider
[[ -x $ENVOY ]] || { echo "envoy not found at $ENVOY (run 'make tools' or set ENVOY)" >&2; exit 1; }
[[ -x $FAKE ]] || { echo "fake provider not built (run 'make fake-provider')" >&2; exit 1; }

umask 077
mkdir -p .run/secrets
write_secret() { # name value
  if [[ ! $2 =~ ^[A-Za-z0-9._~+/=-]*$ ]]; then
    echo "refusing key for $1: unexpected characters" >&2; exit 1
  fi
  cat > ".run/secrets/$1.yaml.tmp" <<YAML
resources:
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: $1_key
  generic_secret:
    secret: { inline_string: "$2" }
YAML
  mv ".run/secrets/$1.yaml.tmp" ".run/secrets/$1.yaml"
}
write_secret fake_provider fake-provider-key
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# One fake per provider (see envoy/clusters.yaml), each as strict as the real API it stands in for:
# the default (`echo`, embeddings), "openai", "gemini", "anthropic", "azure" and a self-hosted
# OpenAI-compatible server.
for pf in 18080:local 18081:openai 18082:gemini 18083:anthropic 18084:azure 18085:selfhosted; do
  "$FAKE" --listen "127.0.0.1:${pf%%:*}" --flavor "${pf##*:}" &
  pids+=($!)
done
"$ENVOY" -c envoy/envoy.yaml --concurrency 2 --disable-hot-restart -l warning \
  --component-log-level wasm:info --file-flush-interval-msec 1000 &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fs -o /dev/null http://127.0.0.1:9901/ready 2>/dev/null && break
  sleep 0.2
done
cat <<MSG

Tollgate is up:  http://127.0.0.1:8081/v1   (admin and Prometheus: http://127.0.0.1:9901/stats/prometheus)
Try:  curl -s localhost:8081/v1/chat/completions -H 'content-type: application/json' \\
        -H 'authorization: Bearer sk-tollgate-demo-finance-forecasting' \\
        -d '{"model":"echo","messages":[{"role":"user","content":"hi"}]}'
      Demo clients (envoy/clients.yaml): finance-forecasting-agent (group Finance)
        secret sk-tollgate-demo-finance-forecasting; support-chatbot secret sk-tollgate-demo-support-chatbot
      (models: echo, gemini/gemini-2.5-flash, openai/gpt-5.2, fast, smart, auto — GET /v1/models)
What the provider received:  curl -s localhost:18080/_tollgate/requests
Ctrl-C stops.

MSG
wait -n "${pids[@]}"
