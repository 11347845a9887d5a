#!/usr/bin/env bash
# One virtualenv per peer under bench/.venvs/ (plus "tools": matplotlib for the
# plots, py-spy for profiling). Idempotent: a venv whose stamp exists is kept.
# A failed install is left with its log; the harness reports the peer as not run.
set -u
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
mkdir -p .venvs
declare -A PKGS=(
  [litserve]="litserve"
  [bentoml]="bentoml"
  [ray]="ray[serve]"
  [mlserver]="mlserver"
  [tools]="matplotlib py-spy"
)
install() {
  local name="$1" pkgs="$2"
  [ -f ".venvs/$name/.installed" ] && return 0
  rm -rf ".venvs/$name"
  if "$PYTHON" -m venv ".venvs/$name" && ".venvs/$name/bin/pip" install -q --upgrade pip \
     && ".venvs/$name/bin/pip" install -q $pkgs; then
    touch ".venvs/$name/.installed"
    echo "rc=0" >> ".venvs/$name.log"
  else
    echo "rc=1 (install of $pkgs failed)" >> ".venvs/$name.log"
  fi
}
for name in "${!PKGS[@]}"; do
  install "$name" "${PKGS[$name]}" > ".venvs/$name.log.new" 2>&1 &
done
wait
for name in "${!PKGS[@]}"; do
  [ -f ".venvs/$name.log.new" ] && cat ".venvs/$name.log.new" >> ".venvs/$name.log" && rm -f ".venvs/$name.log.new"
  if [ -f ".venvs/$name/.installed" ]; then echo "bench venv $name: ready"; else echo "bench venv $name: FAILED (see bench/.venvs/$name.log)"; fi
done
exit 0
