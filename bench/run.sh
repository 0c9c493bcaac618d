#!/usr/bin/env bash
# Benchmark: portcullis scan against the time to just decompress and hash the same layers
# with the fastest tools on the machine.
#
#   bench/run.sh [--runs N] [--size small|large|both]
#
# Builds (once, cached in bench/work/) Debian root filesystems with mmdebstrap and turns
# them into images: an uncompressed `docker save` archive, and OCI layouts with gzip and
# zstd layers (skopeo copy), each as one dominant layer and split into four layers. Then,
# for each image, times
#   baseline  libdeflate-gunzip -c LAYER | openssl dgst -sha256   (gzip layers)
#             zstd -dc LAYER | openssl dgst -sha256               (zstd layers)
#             openssl dgst -sha256 ARCHIVE                        (uncompressed archive)
#   scan      portcullis scan IMAGE --format json
# and prints the median of N runs, their ratio and the scan's peak resident memory.
# Needs: mmdebstrap (root), skopeo, libdeflate-tools, zstd, openssl, python3, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
sizes="both"
extra_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --size) sizes="$2"; shift 2 ;;
        --) shift; extra_args=("$@"); break ;;
        *) echo "usage: bench/run.sh [--runs N] [--size small|large|both] [-- scan args]" >&2; exit 2 ;;
    esac
done
for tool in mmdebstrap skopeo libdeflate-gunzip zstd openssl python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required (see the header of $0)" >&2; exit 2; }
done

work="bench/work"
mkdir -p "$work"
cargo build --release --quiet
bin="$PWD/target/release/portcullis"

build_rootfs() { # name, extra packages
    local out="$work/$1.rootfs.tar"
    if [ ! -s "$out" ]; then
        echo "== mmdebstrap $1 (${2:-minbase only})" >&2
        mmdebstrap --quiet --mode=root --variant=minbase ${2:+--include="$2"} bookworm "$out" >&2
    fi
    echo "$out"
}

make_images() { # name rootfs
    local name="$1" rootfs="$2" dir="$work/$1"
    [ -f "$dir/.done" ] && return
    rm -rf "$dir"; mkdir -p "$dir"
    python3 bench/make_archive.py "$rootfs" "$dir/one.tar" 1
    python3 bench/make_archive.py "$rootfs" "$dir/four.tar" 4
    for layers in one four; do
        skopeo copy -q --dest-compress-format gzip "docker-archive:$dir/$layers.tar" "oci:$dir/$layers-gzip:bench"
        skopeo copy -q --dest-compress-format zstd "docker-archive:$dir/$layers.tar" "oci:$dir/$layers-zstd:bench"
    done
    touch "$dir/.done"
}

layer_blobs() { # oci dir -> layer blob paths
    python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]
idx = json.load(open(f"{d}/index.json"))
m = json.load(open(f"{d}/blobs/" + idx["manifests"][0]["digest"].replace(":", "/")))
for l in m["layers"]:
    print(f"{d}/blobs/" + l["digest"].replace(":", "/"))
PY
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

time_cmd() { # runs a shell command N times, prints the median wall seconds
    local i out
    out=$(mktemp)
    for ((i = 0; i < runs; i++)); do
        # The scan exits 1 when the image fails its gate; only the time matters here.
        /usr/bin/time -f "%e" -o "$out" sh -c "$1" >/dev/null 2>&1 || true
        tail -1 "$out"
    done | median
    rm -f "$out"
}

peak_rss() { # peak resident KiB of one scan
    local out
    out=$(mktemp)
    /usr/bin/time -f "%M" -o "$out" "$bin" scan "$1" --format json "${extra_args[@]}" >/dev/null 2>&1 || true
    tail -1 "$out"
    rm -f "$out"
}

report() { # label baseline_cmd image
    local base scan rss
    base=$(time_cmd "$2")
    scan=$(time_cmd "'$bin' scan '$3' --format json ${extra_args[*]:-}")
    rss=$(peak_rss "$3")
    awk -v l="$1" -v b="$base" -v s="$scan" -v m="$rss" \
        'BEGIN { printf "%-34s %8.2f s %8.2f s %7.2fx %8.1f MiB\n", l, b, s, (b > 0 ? s / b : 0), m / 1024 }'
}

case "$sizes" in
    small) names=(small) ;;
    large) names=(large) ;;
    *) names=(small large) ;;
esac
for name in "${names[@]}"; do
    case "$name" in
        small) rootfs=$(build_rootfs small "") ;;
        large) rootfs=$(build_rootfs large "python3,perl,openssl,curl,git,gcc,libc6-dev,vim-tiny") ;;
    esac
    make_images "$name" "$rootfs"
done

printf "%-34s %10s %10s %8s %12s\n" "image" "baseline" "scan" "ratio" "peak memory"
for name in "${names[@]}"; do
    dir="$work/$name"
    mib=$(( $(stat -c %s "$dir/one.tar") / 1048576 ))
    for layers in one four; do
        mapfile -t gz < <(layer_blobs "$dir/$layers-gzip")
        mapfile -t zs < <(layer_blobs "$dir/$layers-zstd")
        gz_cmd=""; for b in "${gz[@]}"; do gz_cmd+="libdeflate-gunzip -c '$b' | openssl dgst -sha256; "; done
        zs_cmd=""; for b in "${zs[@]}"; do zs_cmd+="zstd -qdc '$b' | openssl dgst -sha256; "; done
        report "$name ${mib}MiB $layers-layer gzip" "$gz_cmd" "oci:$dir/$layers-gzip:bench"
        report "$name ${mib}MiB $layers-layer zstd" "$zs_cmd" "oci:$dir/$layers-zstd:bench"
        report "$name ${mib}MiB $layers-layer uncompressed" "openssl dgst -sha256 '$dir/$layers.tar'" "docker-archive:$dir/$layers.tar"
    done
done
