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
#   scan      portcullis scan IMAGE --format json --no-cache --trivy off
# and prints the median of N runs, their ratio and the scan's peak resident memory. Trivy
# is a separate program with costs of its own, so it is left out of the scan's time.
#
# Next, the cost of the secret scan: the same scans with and without --no-secrets on the
# one-layer images (the secret family's budget is 1.25x).
#
# Then harden against scan on the one-layer images (the issue's budget is 2x).
#
# Then the remote paths next to the archive path, when they can run:
#   daemon    the archives loaded into a Docker daemon: baseline `docker save | openssl dgst`,
#             scan `docker-daemon:NAME`. Uses DOCKER_HOST when set, else starts a dockerd
#             (root) on a private socket.
#   registry  the gzip layouts pushed to a registry: baseline `curl BLOB | libdeflate-gunzip
#             | openssl dgst` per layer, scan `docker://` without the layer cache, and again
#             with a warm cache. Uses PORTCULLIS_BENCH_REGISTRY (host:port, plain HTTP) when
#             set, else starts a docker-registry on loopback.
# Needs: mmdebstrap (root), skopeo, libdeflate-tools, zstd, openssl, python3, GNU time;
# for the remote paths also docker.io, docker-registry and curl.
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
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/portcullis"

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
    local i
    for ((i = 0; i < runs; i++)); do
        # -o: the command's own stderr is discarded, time's report is kept. A scan that
        # fails the gate exits 1; its time still counts.
        /usr/bin/time -f "%e" -o "$work/.time" sh -c "$1" >/dev/null 2>&1 || true
        tail -1 "$work/.time"
    done | median
}

peak_rss() { # peak resident KiB of one scan
    # shellcheck disable=SC2086
    /usr/bin/time -f "%M" -o "$work/.rss" "$bin" scan "$1" --format json $scan_args >/dev/null 2>&1 || true
    tail -1 "$work/.rss"
}

report() { # label baseline_cmd image
    local base scan rss
    base=$(time_cmd "$2")
    scan=$(time_cmd "'$bin' scan '$3' --format json $scan_args")
    rss=$(peak_rss "$3")
    awk -v l="$1" -v b="$base" -v s="$scan" -v m="$rss" \
        'BEGIN { printf "%-46s %8.2f s %8.2f s %7.2fx %8.1f MiB\n", l, b, s, (b > 0 ? s / b : 0), m / 1024 }'
}

case "$sizes" in
    small) names=(small) ;;
    large) names=(large) ;;
    *) names=(small large) ;;
esac
base_args="--no-cache --trivy off"
scan_args="$base_args ${extra_args[*]:-}"
for name in "${names[@]}"; do
    case "$name" in
        small) rootfs=$(build_rootfs small "") ;;
        large) rootfs=$(build_rootfs large "python3,perl,openssl,curl,git,gcc,libc6-dev,vim-tiny") ;;
    esac
    make_images "$name" "$rootfs"
done

printf "%-46s %10s %10s %8s %12s\n" "image" "baseline" "scan" "ratio" "peak memory"
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

# ---- the secret scan's cost -----------------------------------------------------------------
printf "\n%-46s %10s %10s %8s\n" "secret scan" "off" "on" "ratio"
for name in "${names[@]}"; do
    dir="$work/$name"
    mib=$(( $(stat -c %s "$dir/one.tar") / 1048576 ))
    for kind in gzip uncompressed; do
        case "$kind" in
            gzip) image="oci:$dir/one-gzip:bench" ;;
            *) image="docker-archive:$dir/one.tar" ;;
        esac
        off=$(time_cmd "'$bin' scan '$image' --format json $base_args --no-secrets")
        on=$(time_cmd "'$bin' scan '$image' --format json $base_args")
        awk -v l="$name ${mib}MiB one-layer $kind" -v a="$off" -v b="$on" \
            'BEGIN { printf "%-46s %8.2f s %8.2f s %7.2fx\n", l, a, b, (a > 0 ? b / a : 0) }'
    done
done

# ---- harden against scan ------------------------------------------------------------------
# The issue's budget: hardening an image takes at most twice the time of scanning it (only
# layers with changes are rewritten; an archive output of a layout or an uncompressed archive
# copies the untouched layers straight from the input, any other keeps them as it scans).
printf "\n%-46s %10s %10s %8s %12s\n" "harden" "scan" "harden" "ratio" "peak memory"
for name in "${names[@]}"; do
    dir="$work/$name"
    mib=$(( $(stat -c %s "$dir/one.tar") / 1048576 ))
    for kind in gzip uncompressed; do
        case "$kind" in
            gzip) image="oci:$dir/one-gzip:bench" ;;
            *) image="docker-archive:$dir/one.tar" ;;
        esac
        for output in oci oci-archive; do
            dest="$work/.hardened"
            scan=$(time_cmd "'$bin' scan '$image' --format json $base_args")
            harden="rm -rf '$dest'; '$bin' harden '$image' --quiet $base_args --output '$output:$dest'"
            hardened=$(time_cmd "$harden")
            /usr/bin/time -f "%M" -o "$work/.rss" sh -c "$harden" >/dev/null 2>&1 || true
            rss=$(tail -1 "$work/.rss")
            rm -rf "$dest"
            awk -v l="$name ${mib}MiB one-layer $kind -> $output" -v a="$scan" -v b="$hardened" -v m="$rss" \
                'BEGIN { printf "%-46s %8.2f s %8.2f s %7.2fx %8.1f MiB\n", l, a, b, (a > 0 ? b / a : 0), m / 1024 }'
        done
    done
done

# ---- remote paths -------------------------------------------------------------------------
. scripts/services.sh
daemon_host="${DOCKER_HOST:-}"
if [ -z "$daemon_host" ] && command -v dockerd >/dev/null; then
    start_dockerd >&2
    daemon_host="${PORTCULLIS_TEST_DOCKER_HOST:-}"
fi
[ -z "$daemon_host" ] || export DOCKER_HOST="$daemon_host"
registry="${PORTCULLIS_BENCH_REGISTRY:-}"
if [ -z "$registry" ] && command -v docker-registry >/dev/null; then
    start_open_registry >&2
    registry="${PORTCULLIS_TEST_REGISTRY:-}"
fi
have_curl=$(command -v curl || true)

registry_blobs_cmd() { # repository, oci dir: a shell command fetching and hashing each layer
    local repo="$1" cmd="" b digest
    while read -r b; do
        digest="sha256:$(basename "$b")"
        cmd+="curl -sf 'http://$registry/v2/$repo/blobs/$digest' | libdeflate-gunzip -c | openssl dgst -sha256; "
    done < <(layer_blobs "$2")
    echo "$cmd"
}

for name in "${names[@]}"; do
    dir="$work/$name"
    mib=$(( $(stat -c %s "$dir/one.tar") / 1048576 ))
    for layers in one four; do
        if [ -n "$daemon_host" ] && docker version >/dev/null 2>&1; then
            image="portcullis-bench/$name-$layers:latest"
            loaded=$(docker load -q -i "$dir/$layers.tar" | awk '{print $NF}' | tail -1)
            docker tag "$loaded" "$image"
            report "$name ${mib}MiB $layers-layer daemon" \
                "docker save '$image' | openssl dgst -sha256" "docker-daemon:$image"
        fi
        if [ -n "$registry" ] && [ -n "$have_curl" ]; then
            repo="portcullis-bench/$name-$layers"
            pulled="docker://$registry/$repo:gzip"
            skopeo copy -q --dest-tls-verify=false "oci:$dir/$layers-gzip:bench" "$pulled"
            scan_args="--insecure $base_args ${extra_args[*]:-}"
            report "$name ${mib}MiB $layers-layer registry gzip" \
                "$(registry_blobs_cmd "$repo" "$dir/$layers-gzip")" "$pulled"
            cache=$(mktemp -d)
            "$bin" scan "$pulled" --insecure --format json --cache-dir "$cache" >/dev/null 2>&1 || true
            scan_args="--insecure --trivy off --cache-dir $cache ${extra_args[*]:-}"
            report "$name ${mib}MiB $layers-layer registry, warm cache" "true" "$pulled"
            rm -rf "$cache"
        fi
    done
done
