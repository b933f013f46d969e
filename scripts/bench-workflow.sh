#!/usr/bin/env bash
# A dependency graph run as a workflow, timed from the workflow's own
# records: 16 bundles in 4 levels of 4 (each level requires every bundle of
# the level below, all shared in one group, so each is one installation),
# plus the root that requires the top level. Each step sleeps WORK seconds.
# Reports, over RUNS installs from a fresh home each:
#   - span: first task start to last task end;
#   - critical path: the sum over levels of the longest task of the level
#     (what a perfect scheduler with enough slots could reach);
#   - span / critical path (target <= 1.1 with --parallel 4);
#   - per-task overhead: the gap between a task's start and the end of the
#     last task it waited for (persistence, input rendering, scheduling).
#   scripts/bench-workflow.sh [RUNS] [WORK]
# Needs Debian's docker-registry, the mixins built (`make mixins`) and
# WASMIX_BIN (default: the debug build).
set -euo pipefail
runs=${1:-5}
work_s=${2:-0.5}
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
export WASMIX_TRUST_POLICY=$work/trust.yaml

bundle() { # bundle NAME DEPS...: write and publish a no-op bundle requiring DEPS
  local name=$1; shift
  local dir=$work/src/$name
  mkdir -p "$dir"
  {
    printf 'schemaVersion: 1.1.0\nname: %s\nversion: 0.1.0\nmixins: [exec]\n' "$name"
    if [ $# -gt 0 ]; then
      printf 'dependencies:\n  requires:\n'
      for d in "$@"; do
        printf '    - name: %s\n      bundle:\n        reference: %s/bench/%s:v0.1.0\n      sharing:\n        mode: true\n        group: {name: bench}\n' "$d" "$addr" "$d"
      done
    fi
    printf 'install:\n  - exec:\n      command: sleep\n      arguments: ["%s"]\n      grants: {commands: [sleep]}\n' "$work_s"
    printf 'uninstall:\n  - exec:\n      command: "true"\n      grants: {commands: ["true"]}\n'
  } > "$dir/porter.yaml"
  WASMIX_HOME=$work/author "$bin" publish "$dir" "$addr/bench/$name:v0.1.0" --sign --key "$work/cosign.key" >/dev/null
}
below=()
for level in 0 1 2 3; do
  this=()
  for i in 0 1 2 3; do
    bundle "n$level$i" "${below[@]}"
    this+=("n$level$i")
  done
  below=("${this[@]}")
done
bundle top "${below[@]}"

for r in $(seq 1 "$runs"); do
  home=$work/home$r
  start=$(date +%s%N)
  WASMIX_HOME=$home "$bin" --quiet install "$addr/bench/top:v0.1.0" -i top --parallel 4 >/dev/null
  end=$(date +%s%N)
  WASMIX_HOME=$home "$bin" workflow show 1 --output json > "$work/wf$r.json"
  [ -n "${KEEP:-}" ] && cp "$work/wf$r.json" "$KEEP"
  python3 - "$work/wf$r.json" $(( (end - start) / 1000000 )) <<'PY'
import json, sys
wf = json.load(open(sys.argv[1]))
command_ms = int(sys.argv[2])
tasks = {t["node"]: t for t in wf["tasks"]}
ran = [t for t in tasks.values() if t["started_ms"] is not None]
span = max(t["finished_ms"] for t in ran) - min(t["started_ms"] for t in ran)
levels = {}
for t in ran:
    d = t["finished_ms"] - t["started_ms"]
    levels[t["level"]] = max(levels.get(t["level"], 0), d)
critical = sum(levels.values())
gaps = []
for t in ran:
    if t["after"]:
        ready = max(tasks[a]["finished_ms"] for a in t["after"])
        gaps.append(t["started_ms"] - ready)
gaps.sort()
print(f"nodes={len(ran)} command_ms={command_ms} span_ms={span} critical_path_ms={critical} "
      f"ratio={span/critical:.3f} gap_ms_median={gaps[len(gaps)//2]} gap_ms_max={gaps[-1]}")
PY
done
