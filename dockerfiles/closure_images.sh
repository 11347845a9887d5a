# Closure images for the Pythons besides the main one (3.11), sourced by build_images.sh,
# whose helpers (log, show, build, ensure_python_base, py_tag) and settings they use.
# A cloudpickled function only loads in the Python minor version that pickled it,
# so each Python a client may run gets python3X-closure-container on py3X-rpc.

select_closure_pythons() {  # sets EXTRA_PYTHONS: the closure images of the other Pythons to build
    # (the main one's is built on py-rpc): every one the mode can build, or those --only names.
    local v name offline_ok
    EXTRA_PYTHONS=""
    for v in $CLOSURE_PYTHONS_ONLINE; do
        [[ $v == "$MAIN_PYTHON" ]] && continue
        name="python$(py_tag "$v")-closure-container"
        offline_ok=0; [[ -n "${DEBIAN_SUITE[$v]:-}" ]] && offline_ok=1
        if [[ -n "$ONLY" && "$ONLY" == *",$name,"* && $ONLINE -eq 0 && $offline_ok -eq 0 ]]; then
            echo "build_images.sh: $name cannot be built offline (no Debian release ships Python $v as its" \
                 "python3); build it with --online (offline closure images: Python 3.11 from bookworm," \
                 "3.13 from trixie)" >&2
            exit 2
        fi
        if [[ ( -z "$ONLY" && ( $ONLINE -eq 1 || $offline_ok -eq 1 ) ) || "$ONLY" == *",$name,"* ]]; then
            EXTRA_PYTHONS="$EXTRA_PYTHONS $v"
        fi
    done
}

merge_requirements() {  # merge_requirements BASE OVERRIDES: BASE's pins, those OVERRIDES names replaced by its own
    awk 'function name(l) {  # the normalized distribution name of a requirement line
             sub(/^[[:space:]]+/, "", l); sub(/[[:space:]]*[=<>!~;[].*$/, "", l); gsub(/[-_.]+/, "-", l); return tolower(l)
         }
         /^[[:space:]]*(#|$)/ { if (NR != FNR) print; next }
         NR == FNR { over[name($0)] = $0; next }
         { n = name($0); if (n in over) { print over[n]; delete over[n] } else print }
         END { for (n in over) print over[n] }' "$2" "$1"
}

# build/wheelhouse-py3X/{requirements.txt, deps/*.whl (offline only), project/}: the context of py3X-rpc.
extra_wheelhouse() {  # extra_wheelhouse PYTHON: sets EXTRA_WHEELHOUSE
    local v="$1" tag wh overrides want n
    tag="$(py_tag "$v")"
    wh="$ROOT/build/wheelhouse-py$tag"
    EXTRA_WHEELHOUSE="$wh"
    # requirements-py310.txt: pins for a Python that requirements.txt's releases no longer support.
    overrides="$DOCKERFILES/requirements-py$tag.txt"
    if [[ $DRY_RUN -eq 1 ]]; then
        local what="requirements.txt"
        [[ -f "$overrides" ]] && what="$what with $(basename "$overrides")"
        what="$what, the project wheel"
        [[ $ONLINE -eq 1 ]] || what="$what, the cp$tag wheels from PyPI"
        log "would fill $wh: $what"
        return
    fi
    mkdir -p "$wh/deps" "$wh/project"
    if [[ -f "$overrides" ]]; then
        merge_requirements "$DOCKERFILES/requirements.txt" "$overrides" > "$wh/requirements.txt"
    else
        cp "$DOCKERFILES/requirements.txt" "$wh/requirements.txt"
    fi
    rm -f "$wh"/project/*.whl
    cp "$WHEELHOUSE"/project/*.whl "$wh/project/"
    if [[ $ONLINE -eq 1 ]]; then
        rm -f "$wh"/deps/*.whl "$wh/deps/.requirements.sha256"
        return
    fi
    # The host's pip runs another Python: binary cp3X wheels of the exact pins (the file pins
    # every runtime dependency, so no resolution), for glibc up to bookworm's 2.36 (trixie has 2.41).
    local args=(--only-binary=:all: --no-deps --python-version "$v" --implementation cp --abi "cp$tag")
    for n in $(seq 17 36); do args+=(--platform "manylinux_2_${n}_$ARCH"); done
    args+=(--platform "manylinux2014_$ARCH" --platform "manylinux_2_5_$ARCH" --platform "manylinux1_$ARCH")
    want="$({ cat "$wh/requirements.txt"; echo "${args[*]}"; } | sha256sum | cut -d' ' -f1)"
    if [[ "$(cat "$wh/deps/.requirements.sha256" 2>/dev/null)" == "$want" ]]; then
        log "wheelhouse py$tag: dependencies up to date"
        return
    fi
    log "wheelhouse py$tag: fetching the cp$tag wheels of the pinned dependencies"
    rm -f "$wh"/deps/*.whl
    # Markers dropped, as for the main wheelhouse: the image's pip judges them.
    sed 's/[[:space:]]*;.*$//' "$wh/requirements.txt" > "$wh/deps/.requirements-unconditional.txt"
    $PIP download --quiet "${args[@]}" -r "$wh/deps/.requirements-unconditional.txt" -d "$wh/deps" \
        2> >(grep -v "^WARNING: Location" >&2)
    echo "$want" > "$wh/deps/.requirements.sha256"
    log "wheelhouse py$tag: $(ls "$wh"/deps/*.whl | wc -l) dependency wheels"
}

build_closure_images() {  # the closure images of EXTRA_PYTHONS, each on a py3X-rpc of its own (same Dockerfiles)
    local v
    for v in $EXTRA_PYTHONS; do
        ensure_python_base "$v"
        extra_wheelhouse "$v"
        build "py$(py_tag "$v")-rpc" py-rpc.Dockerfile "$EXTRA_WHEELHOUSE" \
            --build-arg BASE_IMAGE="$PYTHON_BASE" --build-arg PIP_OPTIONS="$PIP_OPTIONS" --build-arg PYTHON_VERSION="$v"
        build "python$(py_tag "$v")-closure-container" python-closure-container.Dockerfile "$DOCKERFILES" \
            --build-arg BASE_IMAGE="$REGISTRY/py$(py_tag "$v")-rpc:$VERSION"
    done
}
