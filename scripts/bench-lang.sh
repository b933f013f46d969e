#!/usr/bin/env bash
# The same mixin (`mixin new greet`, which echoes a greeting through a
# granted `echo`) in Rust, Python and JavaScript: component size, cold
# compile (first install, empty compile cache), cached load + warm step
# (later installs), and the CLI's peak RSS. Whole processes timed from
# outside, medians of RUNS.
# usage: WASMIX_BIN=... bench-lang.sh [RUNS]
set -euo pipefail
runs=${1:-7}
bin=${WASMIX_BIN:?set WASMIX_BIN to a release wasmix}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tools=${MIXIN_TARGET:-$HOME/.cache/wasmix-mixins-target}
export CARGO_TARGET_DIR=$tools

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }

printf '| language | component | cold install (compile) | warm install | step (warm) | peak RSS warm |\n'
printf '| --- | --- | --- | --- | --- | --- |\n'
for lang in rust python js; do
  dir=$work/greet-$lang
  WASMIX_HOME=$work/home "$bin" mixin new "greet-$lang" --lang "$lang" --dir "$dir" >/dev/null
  [ "$lang" = js ] && ln -s "$tools/lang-tools/node_modules" "$dir/node_modules"
  WASMIX_HOME=$work/home "$bin" mixin build "$dir" >/dev/null
  size=$(stat -c %s "$dir/greet-$lang.wasm")
  b=$work/bundle-$lang
  mkdir -p "$b"
  cat > "$b/porter.yaml" <<Y
schemaVersion: 1.0.0
name: b-$lang
version: 0.1.0
mixins: [greet-$lang]
install:
  - greet-$lang:
      description: Greet
      name: world
      grants: {commands: [echo]}
uninstall:
  - greet-$lang:
      name: bye
      grants: {commands: [echo]}
Y
  cold=()
  for i in $(seq 3); do
    rm -rf "$work/cold"
    cold+=("$(ms env WASMIX_HOME="$work/cold" "$bin" install "$b" -i c --mixin-path "$dir")")
  done
  rm -rf "$work/warm"
  WASMIX_HOME=$work/warm "$bin" install "$b" -i w0 --mixin-path "$dir" >/dev/null
  warm=(); steps=()
  for i in $(seq "$runs"); do
    warm+=("$(ms env WASMIX_HOME="$work/warm" "$bin" install "$b" -i "w$i" --mixin-path "$dir")")
    # The step's own time, as the CLI prints it: "ok (170.4µs)" / "ok (12.6ms)".
    steps+=("$(WASMIX_HOME=$work/warm "$bin" install "$b" -i "s$i" --mixin-path "$dir" | python3 -c '
import re, sys
m = re.search(r"ok \(([0-9.]+)(µs|ms|s)\)", sys.stdin.read())
v, unit = float(m.group(1)), m.group(2)
print(round(v / 1000 if unit == "µs" else v * 1000 if unit == "s" else v, 2))')")
  done
  rss=$( { /usr/bin/time -f %M env WASMIX_HOME="$work/warm" "$bin" install "$b" -i rss --mixin-path "$dir" >/dev/null; } 2>&1 | tail -1)
  printf '| %s | %s KB | %s ms | %s ms | %s ms | %s MB |\n' "$lang" $((size / 1000)) \
    "$(printf '%s\n' "${cold[@]}" | median)" "$(printf '%s\n' "${warm[@]}" | median)" \
    "$(printf '%s\n' "${steps[@]}" | median)" $((rss / 1000))
done
