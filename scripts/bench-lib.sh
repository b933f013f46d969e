# Sourced by the bench scripts: a private Debian docker-registry on a free
# port, a signing key and a trust policy for it, and the wasmix to time.
# Sets root, bin, work (removed on exit), addr, registry (its pid); exports
# what wasmix needs to reach the registry and verify with the key.
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
bin=${WASMIX_BIN:-$target/debug/wasmix}
mixins=${WASMIX_MIXIN_PATH:-${MIXIN_TARGET:-$root/mixins-wasm/target}/wasm32-wasip2/release}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/data}}
http: {addr: $addr}
YML
docker-registry serve "$work/registry.yml" > "$work/access.log" 2>/dev/null &
registry=$!
trap 'kill $registry 2>/dev/null; rm -rf "$work"' EXIT
until (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; do sleep 0.05; done

export WASMIX_INSECURE_REGISTRIES=$addr COSIGN_PASSWORD=bench WASMIX_MIXIN_PATH=$mixins
export DOCKER_CONFIG=$work/docker
(cd "$work" && WASMIX_HOME=$work/author "$bin" key generate >/dev/null 2>&1)
printf 'scopes:\n  - scope: %s/*\n    authorities:\n      - key: %s/cosign.pub\n' "$addr" "$work" > "$work/trust.yaml"
