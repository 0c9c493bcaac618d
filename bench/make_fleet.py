"""Builds the images of the fleet benchmark as one OCI layout: a few bases and many apps.

    make_fleet.py ROOTFS.tar OUT_DIR IMAGES [BASES]

ROOTFS.tar is a Debian root filesystem (bench/run.sh's bookworm image, unpacked as a tar).
Each of the BASES (default 3) bases is that filesystem's etc/, var/lib/dpkg/, usr/bin/ and
usr/lib/ (a real package database and real binaries, ~100 MB), with a marker file of its
own, so the bases are distinct blobs. Image i (tag `i`, 0 ≤ i < IMAGES) is base i mod BASES
and one small layer of its own: /app/<i>/main.py and a Python package's METADATA. Layers
are uncompressed tars; everything is deterministic.
"""
import hashlib
import io
import json
import os
import sys
import tarfile

rootfs, out, images = sys.argv[1], sys.argv[2], int(sys.argv[3])
bases = int(sys.argv[4]) if len(sys.argv) > 4 else 3
KEEP = ("etc/", "var/lib/dpkg/", "usr/bin/", "usr/lib/")
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
LAYER = "application/vnd.oci.image.layer.v1.tar"


def put(data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(blobs, digest)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def tar_of(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_info(path, data, mode=0o644):
    info = tarfile.TarInfo(path)
    info.size, info.mode, info.mtime = len(data), mode, 0
    return info, data


kept = []
with tarfile.open(rootfs) as src:
    for m in src:
        name = m.name.lstrip("./")
        if not name.startswith(KEEP) or m.isdev():
            continue
        data = src.extractfile(m).read() if m.isfile() else None
        m.name = name
        kept.append((m, data))

base_layers = []
for k in range(bases):
    raw = tar_of(kept + [file_info("etc/fleet-base", f"base {k}\n".encode())])
    d = put(raw)
    d["mediaType"] = LAYER
    base_layers.append((d, d["digest"]))

manifests = []
for i in range(images):
    k = i % bases
    app = tar_of([
        file_info(f"app/{i}/main.py", f"print('app {i}')\n".encode(), 0o755),
        file_info(
            f"usr/lib/python3/dist-packages/urllib3-1.26.{i % 20}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.{i % 20}\n".encode(),
        ),
    ])
    a = put(app)
    a["mediaType"] = LAYER
    config = put(json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["python3", f"/app/{i}/main.py"], "User": "1000"},
        "rootfs": {"type": "layers", "diff_ids": [base_layers[k][1], a["digest"]]},
        "history": [
            {"created_by": "/bin/sh -c #(nop) ADD file:fleet-base in / "},
            {"created_by": '/bin/sh -c #(nop)  CMD ["bash"]', "empty_layer": True},
            {"created_by": f"COPY app /app/{i} # buildkit"},
            {"created_by": f'CMD ["python3", "/app/{i}/main.py"]', "empty_layer": True},
        ],
    }, sort_keys=True).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = put(json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [base_layers[k][0], a],
    }, sort_keys=True).encode())
    manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    manifest["annotations"] = {"org.opencontainers.image.ref.name": str(i)}
    manifests.append(manifest)

with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": manifests}, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
