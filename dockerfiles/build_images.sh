#!/usr/bin/env bash
# Build every Clipper image: {registry}/{name}:{version} and {registry}/{name}:latest.
#
#   dockerfiles/build_images.sh [--registry REGISTRY] [--online] [--only NAME[,NAME]] [--dry-run]
#
# Default (offline): no image is pulled and nothing is fetched from PyPI.
#   - base image clipper-local/bookworm-python:3.11, made with debootstrap
#     (from Debian's HTTP mirror) + `docker import` when missing (needs root);
#   - Python packages come from a wheelhouse built on this host at
#     build/wheelhouse (the project wheel plus the pinned wheels of
#     dockerfiles/requirements.txt), installed with --no-index.
# Closure images, one per Python a client may deploy from (a cloudpickled
# function only loads in the Python minor version that pickled it):
#   python311-closure-container on py-rpc (Python 3.11, as every other image), and
#   python3X-closure-container on py3X-rpc for the other Pythons: offline 3.13
#   (clipper-local/trixie-python:3.13, debootstrap of Debian trixie, and the
#   cp313 wheels of requirements.txt fetched into build/wheelhouse-py313);
#   online 3.10, 3.12 and 3.13 (python:3.X-slim and PyPI; 3.10 with the pins of
#   requirements-py310.txt in place of requirements.txt's).
# Framework images (pytorch, onnx, tf, keras, mxnet, pyspark) always install from a second wheelhouse
# built on this host, build/framework-wheels (dockerfiles/requirements-*.txt;
# torch is this machine's CPU wheel, never a CUDA build from PyPI; pyspark,
# published as a source package only, is built into a wheel here); it also
# keeps wheels that model images pip-install offline (xgboost-cpu).
# The pyspark image also installs Debian's Java 17 runtime with apt (Debian's
# HTTP mirror, as the base image's debootstrap), the mxnet image libgomp1 and
# libquadmath0; MXNet 1.9.1 runs on its own numpy 1.23.5 (requirements-mxnet.txt).
#   --only NAME[,NAME]  build only these images (and py-rpc, which they build on;
#                       keras-container also builds tf-container, its base;
#                       python312-closure-container builds py312-rpc)
#   --dry-run           print the docker build commands (and what would be
#                       pulled, bootstrapped or fetched) instead of running them
# --online: the official base images (python:3.X-slim, debian:bookworm-slim)
#   and PyPI, as on any machine that can pull; only the project wheel is local.
#
# Idempotent: a second run reuses the base image, the wheelhouse and Docker's
# layer cache (the project wheel is built reproducibly, so an unchanged tree
# gives a byte-identical wheel and a cache hit).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKERFILES="$ROOT/dockerfiles"
VERSION="$(tr -d '[:space:]' < "$ROOT/clipper_admin/VERSION.txt")"
REGISTRY="${CLIPPER_REGISTRY:-clipper}"
ONLINE=0
DRY_RUN=0
# The Python of py-rpc, the frontends and the framework images (clipper_admin/images.py MAIN_PYTHON),
# and of the closure images (CLOSURE_PYTHONS): offline only those Debian ships (OFFLINE_CLOSURE_PYTHONS).
MAIN_PYTHON=3.11
CLOSURE_PYTHONS_ONLINE="3.10 3.11 3.12 3.13"
declare -A DEBIAN_SUITE=([3.11]=bookworm [3.13]=trixie)
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WHEELHOUSE="$ROOT/build/wheelhouse"
FRAMEWORK_WHEELS="$ROOT/build/framework-wheels"
ONLY=""
PIP="${PIP:-$ROOT/.venv/bin/pip}"
ARCH="$(uname -m)"
[[ -x "$PIP" ]] || PIP="python3 -m pip"

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"; }  # the header above

while [[ $# -gt 0 ]]; do
    case "$1" in
        --registry) REGISTRY="${2:?--registry needs a value}"; shift 2 ;;
        --registry=*) REGISTRY="${1#*=}"; shift ;;
        --online) ONLINE=1; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        --only) ONLY=",${2:?--only needs a value},"; shift 2 ;;
        --only=*) ONLY=",${1#*=},"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build_images.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

START=$SECONDS
log() { printf '[build_images %4ds] %s\n' $((SECONDS - START)) "$*"; }
show() { printf '+'; printf ' %q' "$@"; printf '\n'; }  # a command as --dry-run prints it
have_image() { [[ $DRY_RUN -eq 0 ]] || command -v docker > /dev/null || return 1; docker image inspect "$1" > /dev/null 2>&1; }
py_tag() { echo "${1//./}"; }  # 3.13 -> 313
local_base() { echo "clipper-local/${DEBIAN_SUITE[$1]}-python:$1"; }
# shellcheck source=dockerfiles/closure_images.sh
source "$DOCKERFILES/closure_images.sh"

# --- (a) base images -------------------------------------------------------
ensure_local_base() {  # ensure_local_base PYTHON: clipper-local/<suite>-python:<PYTHON>, Debian's own Python
    local LOCAL_BASE suite="${DEBIAN_SUITE[$1]}"
    LOCAL_BASE="$(local_base "$1")"
    if have_image "$LOCAL_BASE"; then
        log "base image $LOCAL_BASE present"
        return
    fi
    if [[ $DRY_RUN -eq 1 ]]; then
        log "would create $LOCAL_BASE: debootstrap $suite from $DEBIAN_MIRROR + docker import"
        return
    fi
    command -v debootstrap > /dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
    [[ $EUID -eq 0 ]] || { echo "creating $LOCAL_BASE with debootstrap needs root" >&2; exit 1; }
    local rootfs
    rootfs="$(mktemp -d /tmp/clipper-rootfs.XXXXXX)"
    [[ -n "$rootfs" && "$rootfs" != / ]] || exit 1
    trap 'rm -rf "$rootfs"' EXIT
    log "creating $LOCAL_BASE: debootstrap $suite from $DEBIAN_MIRROR (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        "$suite" "$rootfs" "$DEBIAN_MIRROR" > "$rootfs.log" 2>&1 \
        || { tail -20 "$rootfs.log" >&2; exit 1; }
    rm -f "$rootfs.log"
    # What the official slim images also leave out: package caches and
    # indexes, documentation, man pages and translations (also for packages
    # installed later, through dpkg path excludes, as debian:<suite>-slim).
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
        'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
        > "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim"
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
           "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
           "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/* "$rootfs"/var/log/*.log
    tar -C "$rootfs" -c . | docker import \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$LOCAL_BASE" > /dev/null
    rm -rf "$rootfs"
    trap - EXIT
    log "created $LOCAL_BASE"
}

select_closure_pythons

ensure_pulled() {  # ensure_pulled IMAGE
    have_image "$1" && return
    if [[ $DRY_RUN -eq 1 ]]; then show docker pull -q "$1"; return; fi
    log "pulling $1"
    docker pull -q "$1"
}

ensure_python_base() {  # ensure_python_base PYTHON: sets PYTHON_BASE, the base image of that Python's py-rpc
    if [[ $ONLINE -eq 1 ]]; then
        PYTHON_BASE="python:$1-slim"
        ensure_pulled "$PYTHON_BASE"
    else
        PYTHON_BASE="$(local_base "$1")"
        ensure_local_base "$1"
    fi
}

ensure_python_base "$MAIN_PYTHON"
PY_BASE="$PYTHON_BASE"
if [[ $ONLINE -eq 1 ]]; then
    DEB_BASE="debian:bookworm-slim"
    ensure_pulled "$DEB_BASE"
    PIP_OPTIONS=""
else
    DEB_BASE="$PY_BASE"  # also Debian bookworm; its apt sources use the HTTP mirror
    PIP_OPTIONS="--no-index --find-links /wheels/deps"
fi

# --- (b) wheelhouses ---------------------------------------------------------
main_wheelhouse() {
    # build/wheelhouse/{requirements.txt, deps/*.whl (offline only), project/clipper_serving-*.whl}
    mkdir -p "$WHEELHOUSE/deps" "$WHEELHOUSE/project"
    cp "$DOCKERFILES/requirements.txt" "$WHEELHOUSE/requirements.txt"
    if [[ $ONLINE -eq 1 ]]; then
        rm -f "$WHEELHOUSE"/deps/*.whl "$WHEELHOUSE/deps/.requirements.sha256"
    else
        want="$(sha256sum "$WHEELHOUSE/requirements.txt" | cut -d' ' -f1)"
        if [[ "$(cat "$WHEELHOUSE/deps/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
            log "wheelhouse: fetching the pinned dependencies"
            rm -f "$WHEELHOUSE"/deps/*.whl
            # Binary wheels only: the images carry no compiler. Host and images are
            # both CPython 3.11 on x86_64 glibc (bookworm), so the host's wheels fit.
            # Markers are dropped here: they must be judged by the image's Python
            # (bookworm's 3.11.2 needs async-timeout, the host's may not), so
            # the wheelhouse holds every conditional wheel too.
            sed 's/[[:space:]]*;.*$//' "$WHEELHOUSE/requirements.txt" > "$WHEELHOUSE/deps/.requirements-unconditional.txt"
            $PIP wheel --quiet --only-binary=:all: -r "$WHEELHOUSE/deps/.requirements-unconditional.txt" -w "$WHEELHOUSE/deps" \
                2> >(grep -v "^WARNING: Location" >&2)
            echo "$want" > "$WHEELHOUSE/deps/.requirements.sha256"
        else
            log "wheelhouse: dependencies up to date"
        fi
    fi

    log "wheelhouse: building the project wheel"
    src="$(mktemp -d /tmp/clipper-src.XXXXXX)"
    # Build from a clean copy of the tree (tracked and untracked, not ignored
    # files) so stale setuptools build/ output never leaks into the wheel.
    if git -C "$ROOT" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
        # (--ignore-failed-read: a tracked file deleted in the work tree is skipped)
        (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
            | tar --null --ignore-failed-read -T - -cf - 2> /dev/null) | tar -C "$src" -xf -
    else
        tar -C "$ROOT" --exclude=./build --exclude=./.venv --exclude=.git -cf - . | tar -C "$src" -xf -
    fi
    # Fixed timestamps: the same sources give the same wheel bytes, hence Docker cache hits.
    rm -f "$WHEELHOUSE"/project/*.whl
    SOURCE_DATE_EPOCH=315532800 $PIP wheel --quiet --no-deps -w "$WHEELHOUSE/project" "$src" > "$src.log" 2>&1 \
        || { cat "$src.log" >&2; rm -rf "$src" "$src.log"; exit 1; }
    rm -rf "$src" "$src.log"
    log "wheelhouse: $(ls "$WHEELHOUSE"/project/*.whl | xargs -n1 basename), $(ls "$WHEELHOUSE"/deps/*.whl 2>/dev/null | wc -l) dependency wheels"
}

framework_wheelhouse() {
    # Framework wheels: the exact pins, without dependency resolution (every
    # runtime dependency is pinned in the requirements file itself).
    mkdir -p "$FRAMEWORK_WHEELS/wheels"
    cp "$DOCKERFILES"/requirements-pytorch.txt "$DOCKERFILES"/requirements-onnx.txt \
       "$DOCKERFILES"/requirements-tensorflow.txt "$DOCKERFILES"/requirements-wheelhouse.txt "$DOCKERFILES"/probe_onnx_opset.py "$FRAMEWORK_WHEELS/"
    cp "$DOCKERFILES"/requirements-pyspark.txt "$DOCKERFILES"/probe_pyspark.py "$FRAMEWORK_WHEELS/"
    cp "$DOCKERFILES"/requirements-mxnet.txt "$DOCKERFILES"/probe_mxnet.py "$FRAMEWORK_WHEELS/"
    want="$(cat "$FRAMEWORK_WHEELS"/requirements-*.txt | sha256sum | cut -d' ' -f1)"
    if [[ "$(cat "$FRAMEWORK_WHEELS/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
        log "framework wheelhouse: fetching the pinned wheels (torch: the CPU wheel)"
        rm -f "$FRAMEWORK_WHEELS"/wheels/*.whl
        cat "$FRAMEWORK_WHEELS"/requirements-*.txt | sed 's/[[:space:]]*#.*$//; /^[[:space:]]*$/d' \
            > "$FRAMEWORK_WHEELS/.all-requirements.txt"
        # PyPI has pyspark as a source package only (~430 MB, its jars inside): its wheel is built here.
        SDIST_ONLY='^pyspark=='
        grep -E "$SDIST_ONLY" "$FRAMEWORK_WHEELS/.all-requirements.txt" > "$FRAMEWORK_WHEELS/.sdist-requirements.txt" || true
        grep -vE "$SDIST_ONLY" "$FRAMEWORK_WHEELS/.all-requirements.txt" > "$FRAMEWORK_WHEELS/.binary-requirements.txt"
        $PIP download --quiet --only-binary=:all: --no-deps -r "$FRAMEWORK_WHEELS/.binary-requirements.txt" \
            -d "$FRAMEWORK_WHEELS/wheels" 2> >(grep -v "^WARNING: Location" >&2)
        if [[ -s "$FRAMEWORK_WHEELS/.sdist-requirements.txt" ]]; then
            log "framework wheelhouse: building $(tr '\n' ' ' < "$FRAMEWORK_WHEELS/.sdist-requirements.txt")from source"
            $PIP wheel --quiet --no-deps -r "$FRAMEWORK_WHEELS/.sdist-requirements.txt" -w "$FRAMEWORK_WHEELS/wheels" \
                2> >(grep -v "^WARNING: Location" >&2)
        fi
        echo "$want" > "$FRAMEWORK_WHEELS/.requirements.sha256"
    else
        log "framework wheelhouse: up to date"
    fi
}

if [[ $DRY_RUN -eq 1 ]]; then
    log "would fill $WHEELHOUSE (the project wheel$([[ $ONLINE -eq 0 ]] && echo ", the pinned dependencies")) and $FRAMEWORK_WHEELS"
else
    main_wheelhouse
    framework_wheelhouse
fi

TORCH_VERSION="$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' "$DOCKERFILES/requirements-pytorch.txt")"
ONNXRUNTIME_VERSION="$(sed -n 's/^onnxruntime==\([0-9.]*\).*/\1/p' "$DOCKERFILES/requirements-onnx.txt")"
TENSORFLOW_VERSION="$(sed -n 's/^tensorflow-cpu==\([0-9.]*\).*/\1/p' "$DOCKERFILES/requirements-tensorflow.txt")"
KERAS_VERSION="$(sed -n 's/^keras==\([0-9.]*\).*/\1/p' "$DOCKERFILES/requirements-tensorflow.txt")"
PYSPARK_VERSION="$(sed -n 's/^pyspark==\([0-9.]*\).*/\1/p' "$DOCKERFILES/requirements-pyspark.txt")"
MXNET_VERSION="$(sed -n 's/^mxnet==\([0-9.]*\).*/\1/p' "$DOCKERFILES/requirements-mxnet.txt")"
MXNET_NUMPY_VERSION="$(sed -n 's/^numpy==\([0-9.]*\).*/\1/p' "$DOCKERFILES/requirements-mxnet.txt")"

# --- (c) images -----------------------------------------------------------------
PYTHON_VERSION="$MAIN_PYTHON"  # py-rpc.Dockerfile refuses a base image with another Python
CLOSURE="python$(py_tag "$PYTHON_VERSION")-closure-container"
RPC="$REGISTRY/py-rpc:$VERSION"

wanted() { [[ -z "$ONLY" || "$ONLY" == *",$1,"* ]]; }

build() {  # build NAME DOCKERFILE CONTEXT [--build-arg ...]
    local name="$1" dockerfile="$2" context="$3" t0=$SECONDS
    shift 3
    if [[ "$name" != py*-rpc ]] && ! wanted "$name"; then return; fi
    if [[ $DRY_RUN -eq 1 ]]; then
        show docker build --rm --force-rm -f "$DOCKERFILES/$dockerfile" \
            -t "$REGISTRY/$name:$VERSION" -t "$REGISTRY/$name:latest" "$@" "$context"
        return
    fi
    log "building $REGISTRY/$name:$VERSION"
    if ! docker build --rm --force-rm -f "$DOCKERFILES/$dockerfile" \
        -t "$REGISTRY/$name:$VERSION" -t "$REGISTRY/$name:latest" "$@" "$context" \
        > "$WHEELHOUSE/../docker-build-$name.log" 2>&1; then
        tail -30 "$WHEELHOUSE/../docker-build-$name.log" >&2
        echo "build of $name failed; full log: build/docker-build-$name.log" >&2
        exit 1
    fi
    log "built $REGISTRY/$name:$VERSION ($((SECONDS - t0))s)"
}

alias_image() {  # alias_image NAME ALIAS: one more name for an image just built
    local tag
    for tag in "$VERSION" latest; do
        if [[ $DRY_RUN -eq 1 ]]; then show docker tag "$REGISTRY/$1:$VERSION" "$REGISTRY/$2:$tag"; continue; fi
        docker tag "$REGISTRY/$1:$VERSION" "$REGISTRY/$2:$tag"
    done
    [[ $DRY_RUN -eq 1 ]] || log "tagged $REGISTRY/$1:$VERSION as $REGISTRY/$2:$VERSION"
}

build py-rpc py-rpc.Dockerfile "$WHEELHOUSE" \
    --build-arg BASE_IMAGE="$PY_BASE" --build-arg PIP_OPTIONS="$PIP_OPTIONS" \
    --build-arg PYTHON_VERSION="$PYTHON_VERSION"
alias_image py-rpc "py$(py_tag "$PYTHON_VERSION")-rpc"  # every Python's runtime as py3X-rpc
build query_frontend query_frontend.Dockerfile "$DOCKERFILES" --build-arg BASE_IMAGE="$RPC"
build management_frontend management_frontend.Dockerfile "$DOCKERFILES" --build-arg BASE_IMAGE="$RPC"
build "$CLOSURE" python-closure-container.Dockerfile "$DOCKERFILES" --build-arg BASE_IMAGE="$RPC"
build noop-container noop-container.Dockerfile "$DOCKERFILES" --build-arg BASE_IMAGE="$RPC"
build redis redis.Dockerfile "$DOCKERFILES" --build-arg BASE_IMAGE="$DEB_BASE"
build prometheus prometheus.Dockerfile "$DOCKERFILES" --build-arg BASE_IMAGE="$DEB_BASE"

build_closure_images


# Framework images: py-rpc plus the framework in one layer (shared with the closure image otherwise).
PYTORCH="pytorch${PYTHON_VERSION//./}-container"
if wanted pytorch-container || wanted "$PYTORCH"; then
    ONLY="${ONLY:+$ONLY$PYTORCH,}"
    build "$PYTORCH" pytorch-container.Dockerfile "$FRAMEWORK_WHEELS" \
        --build-arg BASE_IMAGE="$RPC" --build-arg TORCH_VERSION="$TORCH_VERSION"
    alias_image "$PYTORCH" pytorch-container
fi
if wanted onnx-container || wanted caffe2-onnx-container; then
    ONLY="${ONLY:+${ONLY}onnx-container,onnx-probe,}"
    # The build stage first, to read the highest opset its onnxruntime runs for the label.
    build onnx-probe onnx-container.Dockerfile "$FRAMEWORK_WHEELS" --target build --build-arg BASE_IMAGE="$RPC"
    if [[ $DRY_RUN -eq 1 ]]; then
        ONNX_MAX_OPSET="<read from onnx-probe>"
    else
        ONNX_MAX_OPSET="$(docker run --rm --network none --entrypoint python \
            -e PYTHONPATH=/opt/clipper-frameworks/onnx:/opt/onnx-probe "$REGISTRY/onnx-probe:$VERSION" \
            /wheels/probe_onnx_opset.py)"
        docker rmi "$REGISTRY/onnx-probe:$VERSION" "$REGISTRY/onnx-probe:latest" > /dev/null
    fi
    log "onnxruntime $ONNXRUNTIME_VERSION runs ONNX opsets up to $ONNX_MAX_OPSET"
    build onnx-container onnx-container.Dockerfile "$FRAMEWORK_WHEELS" --build-arg BASE_IMAGE="$RPC" \
        --build-arg ONNXRUNTIME_VERSION="$ONNXRUNTIME_VERSION" --build-arg ONNX_MAX_OPSET="$ONNX_MAX_OPSET"
    alias_image onnx-container caffe2-onnx-container
fi

TF="tf${PYTHON_VERSION//./}-container"
KERAS="keras${PYTHON_VERSION//./}-container"
if wanted keras-container || wanted "$KERAS"; then
    ONLY="${ONLY:+${ONLY}tf-container,}"  # the Keras image is the TensorFlow image with another entrypoint
fi
if wanted tf-container || wanted "$TF"; then
    ONLY="${ONLY:+$ONLY$TF,}"
    build "$TF" tf-container.Dockerfile "$FRAMEWORK_WHEELS" --build-arg BASE_IMAGE="$RPC" \
        --build-arg TENSORFLOW_VERSION="$TENSORFLOW_VERSION" --build-arg KERAS_VERSION="$KERAS_VERSION"
    alias_image "$TF" tf-container
fi
if wanted keras-container || wanted "$KERAS"; then
    ONLY="${ONLY:+$ONLY$KERAS,}"
    build "$KERAS" keras-container.Dockerfile "$DOCKERFILES" --build-arg BASE_IMAGE="$REGISTRY/$TF:$VERSION"
    alias_image "$KERAS" keras-container
fi

# MXNet: py-rpc plus libgomp and MXNet 1.9.1 on its own numpy 1.23 (first on sys.path; the build stage checks it serves).
MXNET="mxnet${PYTHON_VERSION//./}-container"
if wanted mxnet-container || wanted "$MXNET"; then
    ONLY="${ONLY:+$ONLY$MXNET,}"
    build "$MXNET" mxnet-container.Dockerfile "$FRAMEWORK_WHEELS" --build-arg BASE_IMAGE="$RPC" \
        --build-arg MXNET_VERSION="$MXNET_VERSION" --build-arg NUMPY_VERSION="$MXNET_NUMPY_VERSION"
    alias_image "$MXNET" mxnet-container
fi

# PySpark: py-rpc plus Debian's Java 17 runtime and pyspark (the build stage checks the pruned Spark serves).
PYSPARK="pyspark${PYTHON_VERSION//./}-container"
if wanted pyspark-container || wanted "$PYSPARK"; then
    ONLY="${ONLY:+$ONLY$PYSPARK,}"
    build "$PYSPARK" pyspark-container.Dockerfile "$FRAMEWORK_WHEELS" \
        --build-arg BASE_IMAGE="$RPC" --build-arg PYSPARK_VERSION="$PYSPARK_VERSION"
    alias_image "$PYSPARK" pyspark-container
fi

[[ $DRY_RUN -eq 1 ]] && exit 0
log "done in $((SECONDS - START))s:"
docker images --format '  {{.Repository}}:{{.Tag}}\t{{.Size}}' "$REGISTRY/*" | grep ":$VERSION" | sort
