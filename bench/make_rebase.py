"""Builds the images of the rebase benchmark as one OCI layout, tags sharing the base blob.

    make_rebase.py BASE.tar OUT_DIR gzip|uncompressed

BASE.tar is a one-layer `docker save` archive (bench/make_archive.py's). The layout gets
  base      that layer, with a history ending in the base's `CMD` (as a base image's does)
  app       the base and one small layer of its own (/app), with `COPY` and `CMD` steps
  c1 .. c5  the base and one layer each rewriting /var/lib/dpkg/status: candidate K ships
            newer versions of the first K of five source packages (an apt-get upgrade)
and OUT_DIR/osv/ one Debian:12 OSV record per source package, fixed at the newer version,
so that candidate 5 removes the most vulnerabilities and candidate 1 the fewest.
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile

base_tar, out, compression = sys.argv[1], sys.argv[2], sys.argv[3]
assert compression in ("gzip", "uncompressed"), compression
# Source packages the large bench image holds, and whether their record is critical (else
# medium).
SOURCES = [("openssl", True), ("curl", True), ("git", False), ("perl", False), ("python3.11", False)]
BUMP = "+bench1"
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
layer_type = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compression == "gzip" else "")


def put(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def put_layer(raw):
    """A layer blob and its diff_id."""
    blob = gzip.compress(raw, mtime=0) if compression == "gzip" else raw
    return put(blob), "sha256:" + hashlib.sha256(raw).hexdigest()


def layer_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = set()
        for path, data, mode in files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    t.addfile(info)
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# The base layer: copied once (and compressed once) from the archive, its status file kept.
src = tarfile.open(base_tar)
names = json.load(src.extractfile("manifest.json"))[0]["Layers"]
assert len(names) == 1, "the base archive has one layer"
layer_member = src.getmember(names[0])
base_diff_id = "sha256:" + names[0].split("/")[0]
status = None
with tarfile.open(fileobj=src.extractfile(layer_member)) as layer:
    for m in layer:
        if m.name.lstrip("./") == "var/lib/dpkg/status":
            status = layer.extractfile(m).read().decode()
            break
assert status is not None, "the base has a dpkg status file"
if compression == "gzip":
    tmp = os.path.join(out, "base-layer.tmp")
    with src.extractfile(layer_member) as raw, open(tmp, "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as z:
            shutil.copyfileobj(raw, z, 1 << 20)
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    base_layer = {"digest": "sha256:" + h.hexdigest(), "size": os.path.getsize(tmp)}
    os.replace(tmp, os.path.join(blobs, h.hexdigest()))
else:
    with src.extractfile(layer_member) as raw, open(os.path.join(blobs, base_diff_id[7:]), "wb") as f:
        shutil.copyfileobj(raw, f, 1 << 20)
    base_layer = {"digest": base_diff_id, "size": layer_member.size}
base_layer["mediaType"] = layer_type

stanzas = [s for s in status.split("\n\n") if s.strip()]


def field(stanza, name):
    for line in stanza.splitlines():
        if line.startswith(name + ": "):
            return line[len(name) + 2:].strip()
    return None


def source_of(stanza):
    return (field(stanza, "Source") or field(stanza, "Package")).split(" ")[0]


versions = {}
for s in stanzas:
    src_name = source_of(s)
    if src_name in dict(SOURCES) and src_name not in versions:
        versions[src_name] = field(s, "Version")
missing = [name for name, _ in SOURCES if name not in versions]
assert not missing, f"the base lacks source packages {missing}"


def upgraded(k):
    """The status file with the binaries of the first K sources at their newer version."""
    bumped = {name for name, _ in SOURCES[:k]}
    out_stanzas = []
    for s in stanzas:
        if source_of(s) in bumped:
            s = "\n".join(
                line + BUMP if line.startswith("Version: ") else line for line in s.splitlines()
            )
        out_stanzas.append(s)
    return ("\n\n".join(out_stanzas) + "\n").encode()


BASE_HISTORY = [
    {"created_by": "/bin/sh -c #(nop) ADD file:debfat-rootfs in / "},
    {"created_by": '/bin/sh -c #(nop)  CMD ["bash"]', "empty_layer": True},
]


def image(tag, layers, history):
    config = put(json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["bash"], "User": "0"},
        "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
        "history": history,
    }).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    descriptors = []
    for desc, _ in layers:
        descriptors.append(dict(desc, mediaType=layer_type))
    manifest = put(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": descriptors,
    }).encode())
    manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    manifest["annotations"] = {"org.opencontainers.image.ref.name": tag}
    return manifest


base = (base_layer, base_diff_id)
manifests = [image("base", [base], BASE_HISTORY)]
app_layer = put_layer(layer_of([
    ("app/run", b"#!/bin/sh\nexec python3 /app/main.py\n", 0o755),
    ("app/main.py", b"print('hello from the bench app')\n", 0o644),
]))
manifests.append(image("app", [base, app_layer], BASE_HISTORY + [
    {"created_by": "COPY app /app # buildkit"},
    {"created_by": 'CMD ["/app/run"]', "empty_layer": True},
]))
for k in range(1, 6):
    upgrade = put_layer(layer_of([("var/lib/dpkg/status", upgraded(k), 0o644)]))
    manifests.append(image(f"c{k}", [base, upgrade], BASE_HISTORY[:1] + [
        {"created_by": f"RUN apt-get upgrade # {k} source packages newer"},
        BASE_HISTORY[1],
    ]))
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": manifests}, f)

osv = os.path.join(out, "osv")
os.makedirs(osv, exist_ok=True)
for i, (name, critical) in enumerate(SOURCES):
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" if critical else \
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:N"
    record = {
        "id": f"DSA-BENCH-{i + 1}", "modified": "2024-01-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": vector}],
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [
                {"introduced": "0"}, {"fixed": versions[name] + BUMP}]}],
        }],
    }
    with open(os.path.join(osv, f"{name}.json"), "w") as f:
        json.dump(record, f)
