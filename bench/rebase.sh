#!/usr/bin/env bash
# Benchmark: ranking five candidate bases (`--base-candidates`) with a warm layer cache,
# against one cold scan of the same application (issue 15's budget: 1.5x).
#
#   bench/rebase.sh [--runs N] [--layers gzip|uncompressed|both]
#
# Takes the large bench image (bookworm with python3, perl, openssl, curl, git, gcc ...;
# bench/run.sh builds it into bench/work/large/one.tar; PORTCULLIS_BENCH_BASE names another
# one-layer `docker save` archive of it) and writes, once, an OCI layout (bench/make_rebase.py)
# holding the application (the base and one small layer of its own; its history shows where
# the base ends) and five candidate bases (the base and one layer each upgrading one to five
# source packages), with an OSV record per package that the upgrades fix. Then times
#   cold     portcullis scan oci:LAYOUT:app --no-cache
#   ranked   portcullis scan oci:LAYOUT:app --base-candidates oci:LAYOUT:c1,...,c5 with a
#            layer cache warmed by one scan of the application
# (both with --format json --trivy off --offline and the bench's OSV records) and prints the
# median of N runs of each, their ratio, and the peak memory of each (GNU time %M).
# Needs python3 and GNU time; mmdebstrap (root) only when the base image must be built.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
layers="both"
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --layers) layers="$2"; shift 2 ;;
        *) echo "usage: bench/rebase.sh [--runs N] [--layers gzip|uncompressed|both]" >&2; exit 2 ;;
    esac
done
for tool in python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done
work=bench/work
mkdir -p "$work"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/portcullis"

base="${PORTCULLIS_BENCH_BASE:-$work/large/one.tar}"
if [ ! -s "$base" ]; then
    rootfs="$work/large.rootfs.tar"
    if [ ! -s "$rootfs" ]; then
        command -v mmdebstrap >/dev/null || { echo "bench: mmdebstrap is required" >&2; exit 2; }
        echo "== mmdebstrap large" >&2
        mmdebstrap --quiet --mode=root --variant=minbase \
            --include=python3,perl,openssl,curl,git,gcc,libc6-dev,vim-tiny bookworm "$rootfs" >&2
    fi
    mkdir -p "$(dirname "$base")"
    python3 bench/make_archive.py "$rootfs" "$base" 1
fi

case "$layers" in
    gzip | uncompressed) kinds=("$layers") ;;
    *) kinds=(uncompressed gzip) ;;
esac
for kind in "${kinds[@]}"; do
    layout="$work/rebase/$kind"
    if [ ! -f "$layout/.done" ]; then
        echo "== writing $layout" >&2
        rm -rf "$layout"; mkdir -p "$layout"
        python3 bench/make_rebase.py "$base" "$layout" "$kind"
        touch "$layout/.done"
    fi
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

measure() { # N runs of a command: "median_seconds max_peak_kib"
    local i f peak=0 t m times=()
    f=$(mktemp)
    for ((i = 0; i < runs; i++)); do
        # The scan fails the gate (exit 1): its time still counts.
        /usr/bin/time -f "%e %M" -o "$f" "$@" >/dev/null 2>&1 || true
        read -r t m < <(tail -1 "$f")
        times+=("$t"); [ "$m" -gt "$peak" ] && peak=$m
    done
    rm -f "$f"
    echo "$(printf '%s\n' "${times[@]}" | median) $peak"
}

cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
mib=$(( $(stat -c %s "$base") / 1048576 ))
printf "%-40s %10s %10s %8s %12s %12s\n" "image" "cold scan" "ranked" "ratio" "cold memory" "ranked memory"
for kind in "${kinds[@]}"; do
    layout="$work/rebase/$kind"
    common=(--format json --trivy off --offline --osv-db "$layout/osv")
    app="oci:$layout:app"
    candidates="oci:$layout:c1,oci:$layout:c2,oci:$layout:c3,oci:$layout:c4,oci:$layout:c5"
    read -r cold cold_rss < <(measure "$bin" scan "$app" "${common[@]}" --no-cache)
    rm -rf "$cache"; mkdir -p "$cache"
    "$bin" scan "$app" "${common[@]}" --cache-dir "$cache" >/dev/null 2>&1 || true
    read -r ranked ranked_rss < <(measure "$bin" scan "$app" "${common[@]}" --cache-dir "$cache" \
        --base-candidates "$candidates")
    awk -v l="$mib MiB base + app, $kind layers" -v a="$cold" -v b="$ranked" -v ma="$cold_rss" -v mb="$ranked_rss" \
        'BEGIN { printf "%-40s %8.2f s %8.2f s %7.2fx %8.1f MiB %8.1f MiB\n", l, a, b, (a > 0 ? b / a : 0), ma / 1024, mb / 1024 }'
done
echo "(budget: ranked at most 1.5x the cold scan)"
# What the ranking found, so that a run that ranked nothing is seen.
layout="$work/rebase/${kinds[0]}"
"$bin" scan "oci:$layout:app" --trivy off --offline --osv-db "$layout/osv" --cache-dir "$cache" \
    --base-candidates "oci:$layout:c1,oci:$layout:c2,oci:$layout:c3,oci:$layout:c4,oci:$layout:c5" \
    2>/dev/null | grep -E '^ *(base|best|rebuilding)' || true
