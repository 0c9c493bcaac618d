#!/usr/bin/env bash
# Benchmark: a registry holding a fleet of images, scanned once with their facts stored
# next to them, then rechecked after a data update without pulling a layer.
#
#   bench/fleet.sh [--images N] [--bases K] [--sample M]
#
# Builds N images (default 1000) from K bases (default 3; each ~100 MB of a real bookworm
# filesystem: its package database, binaries and libraries) and one small layer each
# (bench/make_fleet.py), pushes them with skopeo to a docker-registry of its own (access log
# on) and starts a redis-server of its own. Then, with a release build:
#   serve    two `portcullis serve` replicas sharing one Redis (a database of their own, empty)
#            scan all N through Harbor's scanner API (bench/fleet_serve.py: every request
#            queued at once, round-robin, then every report polled on the other replica):
#            throughput, how many
#            times each distinct blob was pulled, and each replica's peak memory;
#   cold     `scan --no-cache` of M images (default 10): seconds per image, and that times N;
#   fleet    `scan --attach-facts --cache redis://…` of all N by two runners at once, each
#            with its own cache directory (two CI runners or replicas sharing one Redis):
#            wall time, and how many times each distinct layer blob was pulled;
#   recheck  `recheck docker://REGISTRY/fleet` (every tag) with an OSV database that knows a
#            critical vulnerability the scans did not (urllib3 before 1.26.10, which half the
#            apps ship): wall time, peak memory, the blobs pulled (from the registry's access
#            log, against every layer digest the registry holds: the stored facts, one per
#            image, and no layer) and the images that fail now.
# Needs: python3, skopeo, docker-registry, redis-server, GNU time, and bench/run.sh's rootfs
# (bench/work/large.rootfs.tar; run bench/run.sh once first).
set -euo pipefail
cd "$(dirname "$0")/.."
images=1000
bases=3
sample=10
while [ $# -gt 0 ]; do
    case "$1" in
        --images) images="$2"; shift 2 ;;
        --bases) bases="$2"; shift 2 ;;
        --sample) sample="$2"; shift 2 ;;
        *) echo "usage: bench/fleet.sh [--images N] [--bases K] [--sample M]" >&2; exit 2 ;;
    esac
done
rootfs=bench/work/large.rootfs.tar
[ -f "$rootfs" ] || { echo "bench: $rootfs is missing: run bench/run.sh once first" >&2; exit 2; }
for tool in skopeo docker-registry redis-server python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 2; }
done
work=bench/work/fleet
layout="$work/layout-$images-$bases"
mkdir -p "$work"

echo "== building $images images on $bases bases"
if [ ! -f "$layout/index.json" ]; then
    rm -rf "$layout"
    python3 bench/make_fleet.py "$rootfs" "$layout" "$images" "$bases"
fi
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/portcullis"

. scripts/services.sh
services_tmp
port=$(free_port)
mkdir -p "$services_dir/fleet"
printf '%s\n' "version: 0.1" "log:" "  level: info" "  accesslog:" "    disabled: false" \
    "storage:" "  filesystem:" "    rootdirectory: $services_dir/fleet" \
    "http:" "  addr: 127.0.0.1:$port" >"$services_dir/fleet.yml"
docker-registry serve "$services_dir/fleet.yml" >"$services_dir/fleet.log" 2>&1 &
service_pids+=($!)
wait_for "docker-registry" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
registry="127.0.0.1:$port"
start_redis
redis="$PORTCULLIS_TEST_REDIS"

echo "== pushing $images images to $registry with skopeo"
start=$(date +%s.%N)
seq 0 $((images - 1)) | xargs -P 4 -I{} skopeo copy -q --dest-tls-verify=false \
    "oci:$layout:{}" "docker://$registry/fleet:{}"
echo "   pushed in $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
python3 bench/fleet_registry.py "$registry" "$images" "$work/held.json"

osv="$work/osv"
mkdir -p "$osv"
cat >"$osv/urllib3.json" <<'JSON'
{"id": "GHSA-fleet-bench", "modified": "2024-01-01T00:00:00Z",
 "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
 "affected": [{"package": {"ecosystem": "PyPI", "name": "urllib3"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.26.10"}]}]}]}
JSON
empty="$work/osv-empty"
mkdir -p "$empty"
common=(--insecure --offline --trivy off)
blob_gets() { # log offset: blob GETs since then, "count digest" lines
    tail -c +"$(($1 + 1))" "$services_dir/fleet.log" \
        | grep -o '"GET /v2/fleet/blobs/sha256:[0-9a-f]*' | sort | uniq -c || true
}
log_size() { stat -c %s "$services_dir/fleet.log"; }

echo "== serve: two replicas sharing one Redis scan all $images through Harbor's API"
serve_redis="${redis%/*}/1"
redis-cli -u "$serve_redis" FLUSHDB >/dev/null
echo "bench-token-$RANDOM$RANDOM" >"$work/serve.token"
rm -rf "$work"/serve-cache-*
serve_pids=() serve_ports=()
for n in 0 1; do
    p=$(free_port)
    "$bin" serve --listen "127.0.0.1:$p" --workers 2 --queue "$images" \
        --auth-token-file "$work/serve.token" --cache-dir "$work/serve-cache-$n" \
        --cache "$serve_redis" --osv-db "$empty" --offline --trivy off \
        2>"$work/serve-$n.err" &
    serve_pids+=($!) serve_ports+=("$p")
    service_pids+=($!)
    wait_for "portcullis serve" bash -c "exec 3<>/dev/tcp/127.0.0.1/$p"
done
offset=$(log_size)
python3 bench/fleet_serve.py "$work/held.json" "$registry" "$work/serve.token" "${serve_ports[@]}" \
    | sed 's/^/   /'
pulls=$(blob_gets "$offset")
printf '   %d distinct blobs pulled %d times\n' "$(echo "$pulls" | grep -c . || true)" \
    "$(echo "$pulls" | awk '{s += $1} END {print s + 0}')"
for n in 0 1; do
    printf '   replica %d: peak RSS %d MiB\n' "$n" \
        "$(($(awk '/VmHWM/ {print $2}' "/proc/${serve_pids[$n]}/status") / 1024))"
    kill "${serve_pids[$n]}"
done
wait "${serve_pids[@]}" 2>/dev/null || true

echo "== cold: scan --no-cache of $sample images"
start=$(date +%s.%N)
for i in $(seq 0 $((sample - 1))); do
    "$bin" scan "docker://$registry/fleet:$i" "${common[@]}" --osv-db "$empty" --no-cache \
        -q -f json --exit-code 0 >/dev/null
done
cold=$(python3 -c "print(($(date +%s.%N) - $start) / $sample)")
printf '   %.2f s per image; %d images: %.0f s\n' "$cold" "$images" \
    "$(python3 -c "print($cold * $images)")"

echo "== fleet: scan --attach-facts of $images images, two runners sharing $redis"
offset=$(log_size)
start=$(date +%s.%N)
runner() { # runner number: scans every second image
    local n=$1 i
    for ((i = n; i < images; i += 2)); do
        "$bin" scan "docker://$registry/fleet:$i" "${common[@]}" --osv-db "$empty" \
            --cache-dir "$work/cache-$n" --cache "$redis" --attach-facts \
            -q -f json --exit-code 0 >/dev/null 2>>"$work/runner-$n.err"
    done
}
rm -rf "$work"/cache-* "$work"/runner-*.err
runner 0 & r0=$!
runner 1 & r1=$!
wait $r0 $r1
fleet=$(python3 -c "print($(date +%s.%N) - $start)")
pulls=$(blob_gets "$offset")
distinct=$(echo "$pulls" | grep -c . || true)
total=$(echo "$pulls" | awk '{s += $1} END {print s + 0}')
printf '   %.1f s (%.2f s per image); %d distinct blobs pulled %d times\n' "$fleet" \
    "$(python3 -c "print($fleet / $images)")" "$distinct" "$total"

echo "== recheck of docker://$registry/fleet ($images tags) with new data"
offset=$(log_size)
start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/recheck.rss" "$bin" recheck "docker://$registry/fleet" \
    "${common[@]}" --osv-db "$osv" --no-cache >"$work/recheck.out" || true
recheck=$(python3 -c "print($(date +%s.%N) - $start)")
stored=$(grep -c 'from stored facts$' "$work/recheck.out" || true)
failing=$(grep -c ': FAILED' "$work/recheck.out" || true)
pulled=$(blob_gets "$offset")
blob_pulls=$(echo "$pulled" | awk '{s += $1} END {print s + 0}')
# Which of those were layers: every layer digest the registry holds, looked up in what was
# pulled.
layer_pulls=$(echo "$pulled" | python3 -c '
import json, sys
layers = {l for image in json.load(open(sys.argv[1])).values() for l in image["layers"]}
pulled = [line.split() for line in sys.stdin if line.strip()]
print(sum(int(f[0]) for f in pulled if f[-1].split("blobs/")[-1] in layers))
' "$work/held.json")
printf '   %.1f s (%.3f s per image), peak RSS %d MiB; %d from stored facts, %d failing now\n' \
    "$recheck" "$(python3 -c "print($recheck / $images)")" "$(($(tail -n 1 "$work/recheck.rss") / 1024))" \
    "$stored" "$failing"
echo "   blobs pulled by the recheck: $blob_pulls, of which layers: $layer_pulls"
printf '   recheck vs cold scans: %.0fx faster; vs the fleet scan: %.1fx\n' \
    "$(python3 -c "print($cold * $images / $recheck)")" "$(python3 -c "print($fleet / $recheck)")"
