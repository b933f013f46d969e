#!/usr/bin/env bash
# Whole-command timing: `wasmix install` of a bundle of N exec steps (each
# `echo`), run as a process from outside, as a user runs it. Prints the
# median wall time of RUNS installs (each into a fresh installation name).
#   scripts/bench-cli.sh [STEPS] [RUNS] [DRIVER] [CACHE]
# CACHE is `warm` (the default: the compile cache holds the exec mixin) or
# `cold` (each install with an empty wasmix home, so it compiles the mixin).
# Needs the mixins built (`make mixins`) and WASMIX_BIN (default: the
# debug build in CARGO_TARGET_DIR or ./target). With the native exec mixin
# built (`make native`), also times Porter's model for the same steps: per
# step, the exec mixin as a process reading its step on stdin, then `echo`.
# Times are bash's $EPOCHREALTIME (µs, its decimal point dropped whatever
# the locale's), read without starting a process:
# `$(date +%s%N)` put two forks and a `date` around every sample.
set -euo pipefail
: "${EPOCHREALTIME:?needs bash 5 or later}"
steps=${1:-20}
runs=${2:-15}
driver=${3:-host}
cache=${4:-warm}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
bin=${WASMIX_BIN:-$target/debug/wasmix}
mixins=${WASMIX_MIXIN_PATH:-${MIXIN_TARGET:-$root/mixins-wasm/target}/wasm32-wasip2/release}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bundle=$work/bundle
mkdir -p "$bundle"
{
  printf 'schemaVersion: 1.0.0\nname: bench\nversion: 0.1.0\nmixins: [exec]\ninstall:\n'
  for i in $(seq 1 "$steps"); do
    printf '  - exec:\n      description: step %s\n      command: echo\n      arguments: [hello]\n      grants: {commands: [echo]}\n' "$i"
  done
  printf 'uninstall:\n  - exec:\n      command: echo\n      grants: {commands: [echo]}\n'
} > "$bundle/porter.yaml"
export WASMIX_HOME=$work/home WASMIX_MIXIN_PATH=$mixins
# Warm the compile cache and write the lock file.
"$bin" install "$bundle" -i warm --driver "$driver" >/dev/null 2>&1
times=()
for r in $(seq 1 "$runs"); do
  if [ "$cache" = cold ]; then
    export WASMIX_HOME=$work/home-$r
  fi
  start=${EPOCHREALTIME//[!0-9]/}
  "$bin" install "$bundle" -i "run$r" --driver "$driver" >/dev/null 2>&1
  end=${EPOCHREALTIME//[!0-9]/}
  times+=($(( end - start )))
done
median_ms() {
  local sorted
  sorted=($(printf '%s\n' "$@" | sort -n))
  awk "BEGIN{printf \"%.1f\", ${sorted[$(( $# / 2 ))]}/1000}"
}
echo "wasmix install: steps=$steps driver=$driver cache=$cache runs=$runs median_ms=$(median_ms "${times[@]}")"
native=${EXEC_NATIVE:-${MIXIN_TARGET:-$root/mixins-wasm/target}/release/exec-native}
if [ "$driver" = host ] && [ "$cache" = warm ] && [ -x "$native" ]; then
  step='install:
  - exec:
      command: echo
      arguments: [hello]
'
  times=()
  for r in $(seq 1 "$runs"); do
    start=${EPOCHREALTIME//[!0-9]/}
    for i in $(seq 1 "$steps"); do
      printf '%s' "$step" | OUTPUTS_DIR="$work" "$native" >/dev/null
      /bin/echo hello >/dev/null
    done
    end=${EPOCHREALTIME//[!0-9]/}
    times+=($(( end - start )))
  done
  echo "porter model (process per step + command): steps=$steps runs=$runs median_ms=$(median_ms "${times[@]}")"
fi
