#!/usr/bin/env bash
# Build the mixins written in Python and JavaScript (mixins-wasm/python,
# mixins-wasm/js) into OUT, with pinned toolchains:
#   componentize-py (PyPI) for Python;
#   componentize-js (npm) for JavaScript, after rolldown bundles the mixin
#   with the SDK into one module.
# The npm tools live in TOOLS (outside the clone in CI, so they are reused).
# usage: lang-mixins.sh OUT TOOLS
set -euo pipefail
out=$1
tools=$2
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out" "$tools"

COMPONENTIZE_PY=0.25.1
COMPONENTIZE_JS=0.23.0
ROLLDOWN=1.3.2

# (Captured first: `grep -q` closing the pipe early would fail pip under pipefail.)
installed=$(python3 -m pip show componentize-py 2>/dev/null || true)
if ! grep -qx "Version: $COMPONENTIZE_PY" <<<"$installed"; then
  echo "lang-mixins: installing componentize-py $COMPONENTIZE_PY from PyPI"
  python3 -m pip install -q "componentize-py==$COMPONENTIZE_PY" 2>/dev/null \
    || python3 -m pip install -q --break-system-packages "componentize-py==$COMPONENTIZE_PY"
fi
if [ ! -x "$tools/node_modules/.bin/componentize-js" ] || [ ! -x "$tools/node_modules/.bin/rolldown" ] \
   || ! grep -q "\"version\": \"$COMPONENTIZE_JS\"" "$tools/node_modules/@bytecodealliance/componentize-js/package.json" 2>/dev/null; then
  command -v npm >/dev/null || { echo "lang-mixins: npm (Node.js 18+) is needed to build the JavaScript mixins" >&2; exit 1; }
  echo "lang-mixins: installing componentize-js $COMPONENTIZE_JS and rolldown $ROLLDOWN from npm"
  npm install --silent --no-audit --no-fund --prefix "$tools" \
    "@bytecodealliance/componentize-js@$COMPONENTIZE_JS" "rolldown@$ROLLDOWN"
fi

# Rebuild only when a source (or the contract) is newer than the component.
stale() { # OUT_FILE SOURCES...
  local target=$1; shift
  [ ! -f "$target" ] && return 0
  [ -n "$(find "$@" -newer "$target" -type f 2>/dev/null | head -1)" ]
}

for dir in "$root"/mixins-wasm/python/*/; do
  name=$(basename "$dir")
  [ "$name" = sdk ] && continue
  target="$out/wasmix_$name.wasm"
  if stale "$target" "$dir" "$root/mixins-wasm/python/sdk" "$root/wit"; then
    echo "lang-mixins: componentize-py $name"
    (cd "$dir" && componentize-py -d "$root/wit" -w mixin componentize app \
      -p . -p "$root/mixins-wasm/python/sdk" -o "$target.tmp") >/dev/null
    mv "$target.tmp" "$target"
  fi
done

for dir in "$root"/mixins-wasm/js/*/; do
  name=$(basename "$dir")
  [ "$name" = sdk ] && continue
  target="$out/wasmix_$name.wasm"
  if stale "$target" "$dir" "$root/mixins-wasm/js/sdk" "$root/wit"; then
    echo "lang-mixins: componentize-js $name"
    bundle="$tools/$name.bundle.js"
    "$tools/node_modules/.bin/rolldown" "$dir/mixin.js" --format esm --file "$bundle" \
      --external 'wasmix:mixin/log@0.1.0' --external 'wasmix:mixin/credentials@0.1.0' \
      --external 'wasmix:mixin/driver@0.1.0' >/dev/null
    # Without fetch/http: the host offers no wasi:http, and a mixin reaches
    # the network through granted commands or sockets only.
    "$tools/node_modules/.bin/componentize-js" "$bundle" --wit "$root/wit" -n mixin \
      -d http -d fetch-event -o "$target.tmp" >/dev/null
    mv "$target.tmp" "$target"
  fi
done
