#!/usr/bin/env bash
# Benchmark: the secret scan's accuracy and cost.
#
#   bench/secrets.sh [--runs N] [--big MB]
#
# Accuracy. Builds one image (docker archive, cached in bench/work/secrets/) with one sample
# per file under /srv/app/<n>/, an ordinary application directory:
#   positives  Trivy's secret fixtures that its built-in rules must find
#              (../shared/corpus/expected/secrets-trivy.json), detect-secrets' keyword and
#              private-key fixtures (expected/secrets-detect-secrets.json; its entropy-only
#              findings are not portcullis's kind of detector and are left out), and every
#              `examples` entry of policies/secret-rules.toml;
#   negatives  Trivy's fixtures that must not match (invalid AWS keys, secrets inside other
#              words, invalid OpenAI tokens, encrypted/placeholder values) and every
#              `counterexamples` entry of the rules.
# Scans it with portcullis and with Trivy (`trivy image --input … --scanners secret`, which
# needs no vulnerability database) and prints, for each, recall on the positives (a file
# counts when a secret finding at medium or above names it; the figures at any severity
# follow) and the false-alarm rate on the negatives, and
# whether any output of portcullis (JSON, table, SARIF) holds a full secret.
#
# Cost. Times `portcullis scan` of the large bench image (bench/run.sh's bookworm image)
# with and without --no-secrets (median of N runs each; budget: secrets add at most 10%),
# and scans of pathological files: one line of --big MB, --big MB of `-----BEGIN` without
# an END, and --big MB of near-matches (`AKIA` + 15 characters, `password=` pairs), each
# printed with MB/s and peak memory.
# Needs: python3, GNU time; Trivy for its column (skipped with a note when absent).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
big=100
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --big) big="$2"; shift 2 ;;
        *) echo "usage: bench/secrets.sh [--runs N] [--big MB]" >&2; exit 2 ;;
    esac
done
corpus=../shared/corpus
[ -d "$corpus/expected" ] || { echo "bench: $corpus is missing" >&2; exit 2; }
work=bench/work/secrets
mkdir -p "$work"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/portcullis"

echo "== building the sample image"
python3 - "$corpus" "$work" <<'PY'
import io, json, os, sys, tarfile, tomllib
corpus, work = sys.argv[1], sys.argv[2]
samples = []  # (kind, source, file name, bytes)
trivy = json.load(open(f"{corpus}/expected/secrets-trivy.json"))["files"]
name_skips = {"skip examples file", "should ignore .md files by default"}
for path, cases in trivy.items():
    for case in cases:
        config = case["config"].rsplit("/", 1)[-1]
        if config not in ("skip-test.yaml",):
            continue
        if case["test"] in name_skips:
            continue
        data = open(f"{corpus}/{path}", "rb").read()
        kind = "pos" if case["count"] > 0 else "neg"
        samples.append((kind, "trivy", path.rsplit("/", 1)[-1], data))
ds = json.load(open(f"{corpus}/expected/secrets-detect-secrets.json"))["files"]
for path, case in ds.items():
    if case.get("input_not_shipped"):
        continue
    kinds = {f["type"] for f in case["findings"]}
    if not kinds & {"Secret Keyword", "Private Key"}:
        continue
    samples.append(("pos", "detect-secrets", path.rsplit("/", 1)[-1], open(f"{corpus}/{path}", "rb").read()))
rules = tomllib.load(open("policies/secret-rules.toml", "rb"))["rule"]
special = {"netrc-password": ".netrc", "htpasswd-hash": ".htpasswd",
           "generic-secret-block": "deploy.ini", "env-file-random-value": ".env"}
for rule in rules:
    name = special.get(rule["id"], "settings.yaml")
    for text in rule.get("examples", []):
        samples.append(("pos", f"rule:{rule['id']}", name, (text + "\n").encode()))
    for text in rule.get("counterexamples", []):
        samples.append(("neg", f"rule:{rule['id']}", name, (text + "\n").encode()))
index = []
rootfs = io.BytesIO()
with tarfile.open(fileobj=rootfs, mode="w") as tar:
    for d in ("srv", "srv/app"):
        info = tarfile.TarInfo(d); info.type = tarfile.DIRTYPE; info.mode = 0o755
        tar.addfile(info)
    for n, (kind, source, name, data) in enumerate(samples):
        directory = f"srv/app/s{n:05d}"
        info = tarfile.TarInfo(directory); info.type = tarfile.DIRTYPE; info.mode = 0o755
        tar.addfile(info)
        info = tarfile.TarInfo(f"{directory}/{name}"); info.size = len(data); info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
        index.append({"kind": kind, "source": source, "path": f"/{directory}/{name}",
                      "text": data.decode("utf-8", "replace")})
open(f"{work}/rootfs.tar", "wb").write(rootfs.getvalue())
json.dump(index, open(f"{work}/index.json", "w"))
pos = sum(1 for s in index if s["kind"] == "pos")
print(f"   {pos} positive and {len(index) - pos} negative samples")
PY
python3 bench/make_archive.py "$work/rootfs.tar" "$work/image.tar" 1

"$bin" scan "$work/image.tar" --offline --no-cache --trivy off -f json --exit-code 0 >"$work/portcullis.json"
"$bin" scan "$work/image.tar" --offline --no-cache --trivy off -f table --exit-code 0 >"$work/portcullis.txt"
"$bin" scan "$work/image.tar" --offline --no-cache --trivy off -f sarif --exit-code 0 >"$work/portcullis.sarif"
trivy_ok=0
if command -v trivy >/dev/null; then
    if trivy image --quiet --input "$work/image.tar" --scanners secret --format json \
        --cache-dir "$work/trivy-cache" >"$work/trivy.json" 2>"$work/trivy.err"; then
        trivy_ok=1
    else
        echo "   (trivy failed: $(tail -1 "$work/trivy.err"))"
    fi
else
    echo "   (trivy is not installed: its column is left out)"
fi

python3 - "$work" "$trivy_ok" <<'PY'
import json, re, sys
work, trivy_ok = sys.argv[1], sys.argv[2] == "1"
index = json.load(open(f"{work}/index.json"))
report = json.load(open(f"{work}/portcullis.json"))
# A finding counts when it is at medium or above: what a gate reports as a problem. A low
# finding (a checksum that fails, a generic match in documentation, a value not in the
# format of the provider its key names) is shown but is no alarm; the figures at any
# severity are printed too.
RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
secret_findings = [f for f in report["findings"] if f["check"].startswith("secrets-")]
found = {f["location"].get("path") for f in secret_findings if RANK.get(f["severity"], 3) >= 2}
found_any = {f["location"].get("path") for f in secret_findings}
def figures(found):
    pos = [s for s in index if s["kind"] == "pos"]
    neg = [s for s in index if s["kind"] == "neg"]
    hit = [s for s in pos if s["path"] in found]
    alarm = [s for s in neg if s["path"] in found]
    return pos, neg, hit, alarm
def show(label, found, found_any):
    # Recall: a positive counts when any secret finding names it (a low one included: it is
    # shown, and a token whose checksum fails is low by design). False alarms: a negative
    # counts when a finding at medium or above names it (a low finding is shown as doubtful
    # and fails no gate); the other two figures are printed after them.
    pos, neg, hit, _ = figures(found_any)
    _, _, hit_medium, alarm = figures(found)
    _, _, _, alarm_any = figures(found_any)
    pct = lambda a, b: 100.0 * len(a) / max(1, len(b))
    print(f"{label:<11} recall {len(hit)}/{len(pos)} = {pct(hit, pos):5.1f}%   false alarms {len(alarm)}/{len(neg)} = {pct(alarm, neg):4.1f}%"
          f"   (at medium+: recall {pct(hit_medium, pos):.1f}%; at any severity: false alarms {pct(alarm_any, neg):.1f}%)")
    return pos, neg, hit, alarm
pos, neg, hit, alarm = show("portcullis", found, found_any)
missed = [s for s in pos if s["path"] not in found_any]
for s in missed[:15]:
    print(f"   missed      {s['source']:<40} {s['path']}")
# What fired on the negatives: the rule a near-miss imitates, another provider rule, or a
# generic rule (a secret-named key with a literal value: `aws_secret_access_key = <39
# characters>` is no AWS key, but it is still a literal secret assignment).
import tomllib
generic = {r["id"] for r in tomllib.load(open("policies/secret-rules.toml", "rb"))["rule"] if r.get("generic")}
generic |= {"secret-named-key"}
rules_at = {}
for f in secret_findings:
    if RANK.get(f["severity"], 3) >= 2:
        rules_at.setdefault(f["location"].get("path"), set()).add(f.get("data", {}).get("rule", "?"))
provider_alarm = [s for s in neg if rules_at.get(s["path"], set()) - generic]
generic_only = [s for s in neg if s["path"] in rules_at and not (rules_at[s["path"]] - generic)]
print(f"           of which by a provider rule {len(provider_alarm)}/{len(neg)} = {100.0*len(provider_alarm)/max(1,len(neg)):4.1f}%, "
      f"by generic rules only {len(generic_only)}/{len(neg)} = {100.0*len(generic_only)/max(1,len(neg)):4.1f}%")
for s in provider_alarm[:15]:
    print(f"   false alarm {s['source']:<40} {s['path']}  {sorted(rules_at[s['path']])}")
if trivy_ok:
    t = json.load(open(f"{work}/trivy.json"))
    tfound, tfound_any = set(), set()
    for result in t.get("Results") or []:
        for secret in result.get("Secrets") or []:
            target = result.get("Target", "")
            target = target if target.startswith("/") else "/" + target
            tfound_any.add(target)
            if RANK.get(str(secret.get("Severity", "HIGH")).lower(), 3) >= 2:
                tfound.add(target)
    show("trivy", tfound, tfound_any)
# Never a full secret in any output: every secret value a positive sample holds (the
# value after `=`/`:` or the whole token), at least 12 characters long, looked for verbatim.
outputs = "".join(open(f"{work}/{n}").read() for n in ("portcullis.json", "portcullis.txt", "portcullis.sarif"))
leaks = 0
for s in pos:
    for token in re.findall(r"[A-Za-z0-9_\-+/.]{16,}", s["text"]):
        if token in outputs and not re.fullmatch(r"[a-z_./-]+", token):
            leaks += 1
            print(f"   LEAK {s['source']} {s['path']}: {token[:6]}…")
            break
print(f"full secrets in portcullis's outputs: {leaks}")
PY

large="bench/work/large/one.tar"
if [ -s "$large" ]; then
    echo "== secret scan cost on $large ($runs runs each, --no-cache --trivy off)"
    measure() {
        local f; f=$(mktemp)
        /usr/bin/time -o "$f" -f '%e %M' "$@" >/dev/null 2>&1 || true
        tail -1 "$f"; rm -f "$f"
    }
    median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
    with=(); without=()
    for _ in $(seq "$runs"); do
        read -r t _ < <(measure "$bin" scan "$large" --offline --no-cache --trivy off -f json --exit-code 0); with+=("$t")
        read -r t _ < <(measure "$bin" scan "$large" --offline --no-cache --trivy off --no-secrets -f json --exit-code 0); without+=("$t")
    done
    w=$(printf '%s\n' "${with[@]}" | median); wo=$(printf '%s\n' "${without[@]}" | median)
    python3 -c "import sys; w,o=map(float,sys.argv[1:]); print(f'uncompressed archive: with secrets {w:.2f} s, without {o:.2f} s: {100*(w-o)/o:+.1f}% (budget +10%)')" "$w" "$wo"
    # The same image as one gzip layer, as bench/run.sh measures it: decompression and the
    # scan overlap there, as they do for every image pulled from a registry.
    if command -v skopeo >/dev/null; then
        [ -d bench/work/large/one-gzip ] || skopeo copy -q --dest-compress-format gzip \
            "docker-archive:$large" oci:bench/work/large/one-gzip:bench
        with=(); without=()
        for _ in $(seq "$runs"); do
            read -r t _ < <(measure "$bin" scan oci:bench/work/large/one-gzip:bench --offline --no-cache --trivy off -f json --exit-code 0); with+=("$t")
            read -r t _ < <(measure "$bin" scan oci:bench/work/large/one-gzip:bench --offline --no-cache --trivy off --no-secrets -f json --exit-code 0); without+=("$t")
        done
        w=$(printf '%s\n' "${with[@]}" | median); wo=$(printf '%s\n' "${without[@]}" | median)
        python3 -c "import sys; w,o=map(float,sys.argv[1:]); print(f'one gzip layer:       with secrets {w:.2f} s, without {o:.2f} s: {100*(w-o)/o:+.1f}% (budget +10%)')" "$w" "$wo"
    fi
else
    echo "== (no $large: run bench/run.sh --size large or bench/db.sh once to build it)"
fi

echo "== pathological files of $big MB"
python3 - "$work" "$big" <<'PY'
import io, os, sys, tarfile
work, mb = sys.argv[1], int(sys.argv[2])
size = mb << 20
def pattern(unit):
    reps = size // len(unit) + 1
    return (unit * reps)[:size]
cases = {
    "one-line": pattern(b"aZ3+/q9"),
    "begin-no-end": pattern(b"-----BEGIN RSA PRIVATE KEY-----\nMIIE"),
    "near-matches": pattern(b"AKIA0123456789ABCDE password=x "),
}
for name, data in cases.items():
    with tarfile.open(f"{work}/{name}.rootfs.tar", "w") as tar:
        info = tarfile.TarInfo(f"srv/{name}.txt"); info.size = len(data); info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
PY
# Files over secrets.max_file_size (10 MiB by default) are not searched at all; the policy
# here lifts the cap so that the engine itself reads every byte.
printf '[params.secrets]\nmax_file_size = "4G"\n' >"$work/no-cap.toml"
for name in one-line begin-no-end near-matches; do
    python3 bench/make_archive.py "$work/$name.rootfs.tar" "$work/$name.tar" 1
    "$bin" scan "$work/$name.tar" --offline --no-cache --trivy off --policy "$work/no-cap.toml" \
        -f json --exit-code 0 | python3 -c 'import json,sys; r=json.load(sys.stdin); print("   findings:", sum(1 for f in r["findings"] if f["check"].startswith("secrets-")), "diagnostics:", [d["message"][:80] for d in r.get("diagnostics", [])][:2])'
    f=$(mktemp)
    /usr/bin/time -o "$f" -f '%e %M' "$bin" scan "$work/$name.tar" --offline --no-cache --trivy off \
        --policy "$work/no-cap.toml" -f json --exit-code 0 >/dev/null 2>&1 || true
    read -r t m <"$f"; rm -f "$f"
    python3 -c "import sys; t,m,mb=float(sys.argv[1]),int(sys.argv[2]),int(sys.argv[3]); print(f'{sys.argv[4]:<14} {t:6.2f} s  {mb/max(t,0.001):7.1f} MB/s  peak RSS {m//1024} MiB')" "$t" "$m" "$big" "$name"
done
