"""Turns a root filesystem tarball into a classic `docker save` archive with N layers.

The rootfs entries are dealt to layers by top-level directory (largest first, onto the
lightest layer), so that N=1 gives one dominant layer and N>1 several of similar size.
Usage: make_archive.py ROOTFS.tar OUT.tar N
"""
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile

rootfs, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
src = tarfile.open(rootfs)
members = src.getmembers()
groups = {}
for m in members:
    top = m.name.lstrip("./").split("/", 1)[0]
    groups.setdefault(top, []).append(m)
sizes = sorted(((sum(m.size for m in ms), top) for top, ms in groups.items()), reverse=True)
bins = [[0, []] for _ in range(n)]
for size, top in sizes:
    lightest = min(bins, key=lambda b: b[0])
    lightest[0] += size
    lightest[1].append(top)

with tempfile.TemporaryDirectory() as tmp:
    diff_ids, paths = [], []
    for i, (_, tops) in enumerate(bins):
        layer = os.path.join(tmp, f"layer{i}.tar")
        with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as dst:
            for top in tops:
                for m in groups[top]:
                    dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        h = hashlib.sha256()
        with open(layer, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        diff_ids.append("sha256:" + h.hexdigest())
        paths.append((layer, f"{h.hexdigest()}/layer.tar"))
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"layer {i}"} for i in range(n)],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["bench:latest"],
                            "Layers": [p for _, p in paths]}]).encode()
    with tarfile.open(out, "w") as dst:
        for local, name in paths:
            dst.add(local, arcname=name)
        for name, data in ((config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
