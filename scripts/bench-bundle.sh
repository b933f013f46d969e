#!/usr/bin/env bash
# Bundles in a registry, timed from outside as a user runs them: publish
# (signed) of examples/hello, then `wasmix install REF` from a cold home
# (download, verify, unpack, compile) and from a warm one (everything
# cached), with medians of RUNS, the bytes the registry sent, and the share
# of a cold install spent verifying (cold install under a key-checking
# policy minus the same under a `skip` policy, over the former).
#   scripts/bench-bundle.sh [RUNS]
# Needs Debian's docker-registry, the mixins built (`make mixins`) and
# WASMIX_BIN (default: the debug build).
set -euo pipefail
runs=${1:-11}
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
printf 'scopes:\n  - scope: %s/*\n    mode: skip\n' "$addr" > "$work/skip.yaml"
ref=$addr/bench/hello:v0.1.0
# The example writes its lock on first use: publish a copy.
cp -r "$root/examples/hello" "$work/hello"

median_ms() {
  local sorted
  sorted=($(printf '%s\n' "$@" | sort -n))
  awk "BEGIN{printf \"%.1f\", ${sorted[$(( $# / 2 ))]}/1000}"
}
timed() { # timed VAR command...: appends µs to the array named VAR
  local -n acc=$1; shift
  local start end
  start=$(date +%s%N)
  "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; exit 1; }
  end=$(date +%s%N)
  acc+=($(( (end - start) / 1000 )))
}
sent_bytes() { # bytes in the registry's responses to wasmix since line $1
  tail -n +"$1" "$work/access.log" | grep '"wasmix/' | awk '{s+=$10} END {print s+0}'
}

publish=()
for r in $(seq 1 "$runs"); do
  timed publish env WASMIX_HOME="$work/author" "$bin" publish "$work/hello" "$ref" --sign --key "$work/cosign.key"
done
echo "publish (signed): runs=$runs median_ms=$(median_ms "${publish[@]}")"

install() { # install HOME POLICY
  WASMIX_HOME=$1 WASMIX_TRUST_POLICY=$2 API_TOKEN=x \
    "$bin" install "$ref" --cred api-token=env:API_TOKEN -i "i$RANDOM$RANDOM"
}
cold=(); skip=(); warm=()
for r in $(seq 1 "$runs"); do
  timed cold install "$work/cold$r" "$work/trust.yaml"
  timed skip install "$work/skip$r" "$work/skip.yaml"
done
before=$(( $(wc -l < "$work/access.log") + 1 ))
install "$work/bytes" "$work/trust.yaml" >/dev/null 2>&1
bytes=$(sent_bytes "$before")
for r in $(seq 1 "$runs"); do
  timed warm install "$work/bytes" "$work/trust.yaml"
done
before=$(( $(wc -l < "$work/access.log") + 1 ))
install "$work/bytes" "$work/trust.yaml" >/dev/null 2>&1
warm_bytes=$(sent_bytes "$before")
c=$(median_ms "${cold[@]}"); s=$(median_ms "${skip[@]}"); w=$(median_ms "${warm[@]}")
echo "install REF, cold home (download+verify+unpack+compile): median_ms=$c registry_bytes=$bytes"
echo "install REF, cold home, policy skip (no verification): median_ms=$s"
echo "install REF, warm cache: median_ms=$w registry_bytes=$warm_bytes"
awk "BEGIN{printf \"verification share of a cold install: %.1f%%\n\", 100*($c-$s)/$c}"
