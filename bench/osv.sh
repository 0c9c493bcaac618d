#!/usr/bin/env bash
# Benchmark: loading an osv.dev-sized OSV database.
#
#   bench/osv.sh [--records N] [--runs N]
#
# Writes (once, cached in bench/work/) a zip of N synthetic OSV records shaped like
# osv.dev's distribution records (one affected package with a range, a ten-version list and
# 1.5 KB of details each; default 100,000, the size of a large ecosystem export), then
# times `portcullis scan testdata/demo.tar --osv-db ZIP --trivy off` and prints the median
# wall time of N runs, the records per second and the peak resident memory. The demo
# image's packages match none of the records, so what is measured is the streaming pass
# over the zip and the memory it keeps, not matching.
# Needs: python3, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
records=100000
runs=3
while [ $# -gt 0 ]; do
    case "$1" in
        --records) records="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        *) echo "usage: bench/osv.sh [--records N] [--runs N]" >&2; exit 2 ;;
    esac
done
mkdir -p bench/work
zip="bench/work/osv-$records.zip"
if [ ! -f "$zip" ]; then
    echo "== writing $zip"
    python3 - "$zip" "$records" <<'PY'
import json, sys, zipfile
path, count = sys.argv[1], int(sys.argv[2])
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    for i in range(count):
        record = {
            "id": f"DEBIAN-CVE-2020-{i}",
            "modified": "2024-01-01T00:00:00Z",
            "upstream": [f"CVE-2020-{i}"],
            "details": "x" * 1500,
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": f"package{i % 20000}"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2-3"}]}],
                "versions": [f"1.{j}-1" for j in range(10)],
            }],
        }
        z.writestr(f"DEBIAN-CVE-2020-{i}.json", json.dumps(record))
PY
fi
cargo build --release --quiet
bin=target/release/portcullis
[ -n "${CARGO_TARGET_DIR:-}" ] && bin="$CARGO_TARGET_DIR/release/portcullis"
times=()
rss=0
for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o bench/work/osv-time.txt \
        "$bin" scan testdata/demo.tar --osv-db "$zip" --trivy off --format json --exit-code 0 >/dev/null
    read -r seconds kib < bench/work/osv-time.txt
    times+=("$seconds")
    [ "$kib" -gt "$rss" ] && rss="$kib"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
python3 -c "import sys; r, t, m = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]); print(f'{r} records: median {t:.2f} s ({r / t:,.0f} records/s), peak RSS {m / 1024:.0f} MiB')" \
    "$records" "$median" "$rss"
