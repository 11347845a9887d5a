#!/usr/bin/env bash
# One virtualenv per peer under bench/.venvs/ (plus "tools": matplotlib for the
# plots, py-spy for profiling). Idempotent: a venv whose stamp (.installed)
# holds the current package list is kept; one whose stamp holds another list
# (or is empty, as earlier versions of this script left it) gets that list
# installed on top; a venv without a stamp is made anew.
# A failed install is left with its log; the harness reports the peer as not run.
#
# Every peer venv also gets the real-model stack of the main venv at its exact
# versions (bench/real_models.py serves the same model files everywhere).
# torch is ONLY ever asked for as torch==2.13.0: that exact pin resolves to the
# CPU wheel; any other torch request would pull a multi-GB CUDA build.
set -u
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
mkdir -p .venvs
REAL_NO_NUMPY="scikit-learn==1.9.1 onnxruntime==1.32.0 torch==2.13.0"
REAL="scikit-learn==1.9.1 numpy==2.4.6 onnxruntime==1.32.0 torch==2.13.0"
declare -A PKGS=(
  [litserve]="litserve==0.2.19 $REAL"
  [bentoml]="bentoml==1.4.40 $REAL"
  [ray]="ray[serve]==2.60.0 $REAL"
  [mlserver]="mlserver==1.7.1 mlserver-sklearn==1.7.1 $REAL"
  [kserve]="kserve==0.21.0 $REAL"
  # pytriton 0.5/0.6 need numpy<2; 0.7.0's Triton Python stub fails on Python 3.11.
  [pytriton]="nvidia-pytriton==0.6.0 numpy==1.26.4 $REAL_NO_NUMPY"
  # TorchServe's worker imports yaml without declaring it.
  [torchserve]="torchserve==0.12.0 torch-model-archiver==0.12.0 pyyaml==6.0.4 $REAL"
  [tools]="matplotlib py-spy"
)
# Triton's Python backend stub (in the pytriton wheel) links the system's libpython3.11.so,
# so its venv must be made from that same Python: with another 3.11 (pyenv's 3.11.7) the
# stub runs 3.11.2's C core under 3.11.7's standard library and fails to load any model
# ("'_thread.RLock' object has no attribute '_recursion_count'").
declare -A VENV_PYTHON=()
[ -x /usr/bin/python3.11 ] && VENV_PYTHON[pytriton]=/usr/bin/python3.11
install() {
  local name="$1" pkgs="$2" venv=".venvs/$1" python="${VENV_PYTHON[$1]:-$PYTHON}" stamp="$2"
  # A venv that must come from a given Python says so in its stamp (and is made anew when not).
  [ -n "${VENV_PYTHON[$1]:-}" ] && stamp="$pkgs (venv from $python)"
  if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$stamp" ]; then return 0; fi
  if [ -n "${VENV_PYTHON[$1]:-}" ] && [ -f "$venv/.installed" ] && ! grep -qF "(venv from $python)" "$venv/.installed"; then
    rm -f "$venv/.installed"
  fi
  if [ ! -f "$venv/.installed" ]; then
    rm -rf "$venv"
    "$python" -m venv "$venv" && "$venv/bin/pip" install -q --upgrade pip || { echo "rc=1 (venv failed)"; return 1; }
  fi
  # shellcheck disable=SC2086
  if nice -n 10 "$venv/bin/pip" install -q $pkgs; then
    echo "$stamp" > "$venv/.installed"
    echo "rc=0"
  else
    rm -f "$venv/.installed"
    echo "rc=1 (install of $pkgs failed)"
  fi
}
for name in "${!PKGS[@]}"; do
  install "$name" "${PKGS[$name]}" > ".venvs/$name.log.new" 2>&1 &
done
wait
for name in "${!PKGS[@]}"; do
  [ -f ".venvs/$name.log.new" ] && grep -v "^WARNING: Location" ".venvs/$name.log.new" >> ".venvs/$name.log"
  rm -f ".venvs/$name.log.new"
  if [ -f ".venvs/$name/.installed" ]; then echo "bench venv $name: ready"; else echo "bench venv $name: FAILED (see bench/.venvs/$name.log)"; fi
done
exit 0
