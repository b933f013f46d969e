#!/usr/bin/env bash
# What the test suite needs beyond Rust: the wasm32-wasip2 target, an OCI
# registry (CNCF distribution), skopeo, htpasswd, Podman with runc, busybox
# (to build the test image), xxd and the PyPI `oras` client. Installs what is
# missing when it can (root, or sudo without a password); otherwise names
# what is missing and how to install it, and fails.
set -euo pipefail

rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || {
  echo "deps: adding the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
}

need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
[ -x /bin/busybox ] || need+=(busybox-static)
# The secret-masking tests pass a credential through xxd (od and base64 are coreutils).
command -v xxd >/dev/null || need+=(xxd)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo="sudo"
    else
      echo "deps: missing Debian packages: ${need[*]}" >&2
      echo "deps: install them with: sudo apt-get install ${need[*]}" >&2
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    echo "deps: missing ${need[*]} and no apt-get here; install them with your package manager" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if ! python3 -c 'import oras' 2>/dev/null; then
  echo "deps: installing the oras client from PyPI"
  python3 -m pip install -q oras 2>/dev/null \
    || python3 -m pip install -q --break-system-packages oras \
    || { echo "deps: could not install oras; run: python3 -m pip install oras" >&2; exit 1; }
fi
