#!/usr/bin/env bash
# Benchmark: the local vulnerability database at osv.dev's size.
#
#   bench/db.sh [--records N] [--runs N]
#
# Writes (once, cached in bench/work/) a mirror in osv.dev's layout (`<ecosystem>/all.zip`)
# of N records (default 600,000; osv.dev holds about 629,000) made from real ones by
# renaming: Debian's DSA/DLA records (as `Debian:12`, the first copy under their own
# package names so the bench image's packages are really matched), golang/vulndb's records
# (as Go, and renamed into PyPI and npm) and AlmaLinux 9's errata, each copied with new ids
# and package names until the total is reached. Then prints:
#   update   `portcullis db update --mirror DIR` of every ecosystem into an empty database
#            (wall time, peak memory), and a second update (nothing changed)
#   scan     `portcullis scan IMAGE --offline` of the large bench image (bookworm with
#            python3, perl, openssl, curl, git, gcc …; built with mmdebstrap as bench/run.sh
#            builds it) with the full database and with an empty one: the median of N runs
#            each, the difference, and peak memory.
# The records need ../shared/corpus; the image needs mmdebstrap (root) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
records=600000
runs=5
while [ $# -gt 0 ]; do
    case "$1" in
        --records) records="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        *) echo "usage: bench/db.sh [--records N] [--runs N]" >&2; exit 2 ;;
    esac
done
corpus=../shared/corpus
for need in "$corpus/derived/osv-debian-dsa-dla.zip" "$corpus/full/golang_vulndb/data/osv" \
    "$corpus/AlmaLinux_osv-database/advisories/almalinux9"; do
    [ -e "$need" ] || { echo "bench: $need is missing (../shared/corpus)" >&2; exit 2; }
done
for tool in python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done
work=bench/work
mkdir -p "$work"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/portcullis"

mirror="$work/osv-mirror-$records"
if [ ! -f "$mirror/.done" ]; then
    echo "== writing a mirror of $records records in $mirror"
    rm -rf "$mirror"
    python3 - "$corpus" "$mirror" "$records" <<'PY'
import json, os, sys, zipfile
corpus, out, total = sys.argv[1], sys.argv[2], int(sys.argv[3])

def load_zip(path):
    z = zipfile.ZipFile(path)
    return [json.loads(z.read(n)) for n in z.namelist() if n.endswith(".json")]

def load_dir(path):
    recs = []
    for root, _, files in os.walk(path):
        for f in sorted(files):
            if f.endswith(".json"):
                with open(os.path.join(root, f)) as fh:
                    recs.append(json.load(fh))
    return recs

debian = load_zip(f"{corpus}/derived/osv-debian-dsa-dla.zip")
go = load_dir(f"{corpus}/full/golang_vulndb/data/osv")
alma = load_dir(f"{corpus}/AlmaLinux_osv-database/advisories/almalinux9")
# (export name, ecosystem written in the records, real records, share of the total)
plan = [
    ("Debian:12", "Debian:12", debian, 0.35),
    ("Go", "Go", go, 0.20),
    ("PyPI", "PyPI", go, 0.15),
    ("npm", "npm", go, 0.20),
    ("AlmaLinux:9", "AlmaLinux:9", alma, 0.10),
]
written = 0
for i, (export, ecosystem, source, share) in enumerate(plan):
    count = total - written if i == len(plan) - 1 else int(total * share)
    os.makedirs(f"{out}/{export}", exist_ok=True)
    with zipfile.ZipFile(f"{out}/{export}/all.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for n in range(count):
            copy, base = divmod(n, len(source))
            record = json.loads(json.dumps(source[base]))
            record["id"] = f"{record['id']}-R{copy}" if copy else record["id"]
            for affected in record.get("affected", []):
                package = affected.get("package", {})
                package["ecosystem"] = ecosystem
                if copy:
                    package["name"] = f"{package.get('name', 'x')}-r{copy}"
                package.pop("purl", None)
            z.writestr(f"{record['id']}.json", json.dumps(record))
    written += count
    print(f"   {export}: {count} records")
PY
    touch "$mirror/.done"
fi

rootfs="$work/large.rootfs.tar"
if [ ! -s "$rootfs" ]; then
    command -v mmdebstrap >/dev/null || { echo "bench: mmdebstrap is required" >&2; exit 2; }
    echo "== mmdebstrap large"
    mmdebstrap --quiet --mode=root --variant=minbase \
        --include=python3,perl,openssl,curl,git,gcc,libc6-dev,vim-tiny bookworm "$rootfs"
fi
image="$work/large/one.tar"
if [ ! -s "$image" ]; then
    mkdir -p "$work/large"
    python3 bench/make_archive.py "$rootfs" "$image" 1
fi

measure() { # command... -> "seconds max_rss_kib"
    local f
    f=$(mktemp)
    /usr/bin/time -o "$f" -f '%e %M' "$@" >/dev/null 2>&1 || true
    tail -1 "$f"
    rm -f "$f"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

db=$(mktemp -d)
empty=$(mktemp -d)
trap 'rm -rf "$db" "$empty"' EXIT
echo "== db update from $mirror ($records records)"
# /usr/bin/time writes its line last on stderr; the update's own lines come before it.
/usr/bin/time -f 'update: %e s, peak RSS %M KiB' "$bin" db update --db-dir "$db" --mirror "$mirror" \
    --ecosystem Debian:12 --ecosystem Go --ecosystem PyPI --ecosystem npm --ecosystem AlmaLinux:9
/usr/bin/time -f 'second update (not modified): %e s' "$bin" db update --db-dir "$db" --mirror "$mirror" \
    --ecosystem Debian:12 --ecosystem Go --ecosystem PyPI --ecosystem npm --ecosystem AlmaLinux:9 2>&1 | tail -1
du -sh "$db" | awk '{print "database on disk: " $1}'

echo "== scan $image, $runs runs each (--offline, --no-cache, --trivy off)"
full_times=(); none_times=(); full_rss=0; none_rss=0
for _ in $(seq "$runs"); do
    read -r t m < <(measure "$bin" scan "$image" --offline --db-dir "$db" --no-cache --trivy off -f json --exit-code 0)
    full_times+=("$t"); [ "$m" -gt "$full_rss" ] && full_rss=$m
    read -r t m < <(measure "$bin" scan "$image" --offline --db-dir "$empty" --no-cache --trivy off -f json --exit-code 0)
    none_times+=("$t"); [ "$m" -gt "$none_rss" ] && none_rss=$m
done
full=$(printf '%s\n' "${full_times[@]}" | median)
none=$(printf '%s\n' "${none_times[@]}" | median)
"$bin" scan "$image" --offline --db-dir "$db" --no-cache --trivy off -f json --exit-code 0 \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); s=[x for x in r["sources"] if x["name"]=="osv"][0]; print("osv source:", s["status"], "-", s.get("detail","")); print("vulnerability findings:", sum(1 for f in r["findings"] if f["check"]=="vuln-package"))'
printf 'scan with the %s-record database: %s s (peak RSS %s KiB)\n' "$records" "$full" "$full_rss"
printf 'scan without vulnerability data:  %s s (peak RSS %s KiB)\n' "$none" "$none_rss"
python3 -c "import sys; d=float(sys.argv[1])-float(sys.argv[2]); print(f'difference: {d:+.3f} s (budget +0.200 s)')" "$full" "$none"
