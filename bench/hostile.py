#!/usr/bin/env python3
"""The big hostile inputs: generated here, scanned with a release build, time and peak memory
printed. The small versions of the same rows run in CI (tests/hostile.rs); these are the sizes
the bounded issue measured.

    python3 bench/hostile.py [--only NAME[,NAME...]] [--bin PATH]

Cases are written once to bench/work/hostile/ (kept between runs). Each row prints the exit
code, the first line of stderr, wall time and peak resident memory (GNU time's %M).
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "bench", "work", "hostile")
PASSWD = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tar_bytes(entries):
    """A small tar from (name, data or None for a directory) pairs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o644
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_archive(out, layer_paths, config_extra=None, history=None):
    """A classic `docker save` archive of already written layer files (tar or gzip)."""
    diff_ids = []
    for p in layer_paths:
        with open(p, "rb") as f:
            head = f.read(2)
        if head == b"\x1f\x8b":
            h = hashlib.sha256()
            with gzip.open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            diff_ids.append("sha256:" + h.hexdigest())
        else:
            diff_ids.append("sha256:" + sha256_file(p))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "app"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history
        if history is not None
        else [{"created_by": f"layer {i}"} for i in range(len(layer_paths))],
    }
    config.update(config_extra or {})
    config = json.dumps(config).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    names = [f"{i:04d}/layer.tar" for i in range(len(layer_paths))]
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": ["hostile:latest"], "Layers": names}]
    ).encode()
    with tarfile.open(out, "w") as dst:
        for p, name in zip(layer_paths, names):
            dst.add(p, arcname=name)
        for name, data in ((config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def base_layer(path):
    with open(path, "wb") as f:
        f.write(tar_bytes([("etc", None), ("etc/passwd", PASSWD)]))


def many_files(path, count, name_len=0):
    """One gzip layer of `count` empty files (paths padded to `name_len` bytes)."""
    with gzip.open(path, "wb", compresslevel=1) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as t:
            dirs = max(1, count // 1000)
            for d in range(dirs):
                info = tarfile.TarInfo(f"d{d}")
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            for i in range(count):
                name = f"d{i % dirs}/f{i}"
                if name_len > len(name):
                    name = f"d{i % dirs}/" + f"f{i}-".ljust(name_len - len(f"d{i % dirs}/"), "x")
                t.addfile(tarfile.TarInfo(name))


def bomb(path, size):
    """A gzip layer holding one file of `size` zero bytes."""
    header = tarfile.TarInfo("bomb")
    header.size = size
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    with open(path, "wb") as f:
        f.write(comp.compress(header.tobuf(format=tarfile.GNU_FORMAT)))
        left = size
        while left > 0:
            n = min(left, len(zeros))
            f.write(comp.compress(zeros[:n]))
            left -= n
        f.write(comp.compress(bytes(1024 + (-size) % 512)))
        f.write(comp.flush())


def layer_like_blobs(out, count):
    """A gzipped docker save stream with `count` unreferenced gzip blobs before the image."""
    empty = gzip.compress(bytes(1024))
    layer = tar_bytes([("etc", None), ("etc/passwd", PASSWD)])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"User": "app"},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": ["hostile:latest"], "Layers": ["l/layer.tar"]}]
    ).encode()
    with gzip.open(out, "wb", compresslevel=1) as gz:
        with tarfile.open(fileobj=gz, mode="w|") as t:
            for i in range(count):
                info = tarfile.TarInfo(f"junk/{i}")
                info.size = len(empty)
                t.addfile(info, io.BytesIO(empty))
            for name, data in (
                ("l/layer.tar", layer),
                (config_name, config),
                ("manifest.json", manifest),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))


def rpmdb_view(path):
    db = os.path.join(WORK, "rpmdb.sqlite")
    if os.path.exists(db):
        os.remove(db)
    con = sqlite3.connect(db)
    con.executescript(
        "CREATE VIEW Packages AS WITH RECURSIVE r(hnum, blob) AS "
        "(SELECT 1, zeroblob(1000) UNION ALL SELECT hnum + 1, blob FROM r) "
        "SELECT hnum, blob FROM r ORDER BY blob;"
    )
    con.close()
    with open(db, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(
            tar_bytes(
                [
                    ("usr", None),
                    ("usr/lib", None),
                    ("usr/lib/sysimage", None),
                    ("usr/lib/sysimage/rpm", None),
                    ("usr/lib/sysimage/rpm/rpmdb.sqlite", data),
                ]
            )
        )


def long_lines(path, files, size):
    units = [b"AKIAIOSFODNN7EXAMPLE ", b"password=hunter2x "]
    entries = [("app", None)]
    for i in range(files):
        unit = units[i % len(units)]
        entries.append((f"app/line{i}.txt", unit * (size // len(unit))))
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(tar_bytes(entries))


def long_name(path, size):
    """A gzip layer whose first entry is a GNU long name of `size` bytes."""
    header = tarfile.TarInfo("././@LongLink")
    header.type = b"L"
    header.size = size
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunk = b"n" * (1 << 20)
    with open(path, "wb") as f:
        f.write(comp.compress(header.tobuf(format=tarfile.GNU_FORMAT)))
        left = size
        while left > 0:
            n = min(left, len(chunk))
            f.write(comp.compress(chunk[:n]))
            left -= n
        f.write(comp.compress(bytes((-size) % 512 + 1024)))
        f.write(comp.flush())


def case(name, build):
    """Builds the case once; returns the archive path."""
    out = os.path.join(WORK, f"{name}.tar")
    if os.path.exists(out):
        return out
    base = os.path.join(WORK, "base.layer")
    if not os.path.exists(base):
        base_layer(base)
    build(out, base)
    return out


def files_case(count, name_len=0):
    def build(out, base):
        layer = out + ".layer"
        many_files(layer, count, name_len)
        write_archive(out, [base, layer])
        os.remove(layer)

    return build


def single_layer_case(make):
    def build(out, base):
        layer = out + ".layer"
        make(layer)
        write_archive(out, [base, layer])
        os.remove(layer)

    return build


def history_case(out, base):
    write_archive(out, [base], history=[{} for _ in range(1_000_000)])


def buildkit_case(out, base):
    write_archive(
        out,
        [base],
        history=[
            {"created_by": "RUN |18446744073709551615 A=1 /bin/sh -c true # buildkit", "empty_layer": True},
            {"created_by": "base"},
        ],
    )


CASES = [
    ("files-100k", lambda: case("files-100k", files_case(100_000)), []),
    ("files-500k", lambda: case("files-500k", files_case(500_000)), []),
    ("files-2m", lambda: case("files-2m", files_case(2_000_000)), ["--max-entries", "3000000"]),
    ("files-400k-200b", lambda: case("files-400k-200b", files_case(400_000, 200)), []),
    ("max-entries-10", lambda: case("files-100k", files_case(100_000)), ["--max-entries", "10"]),
    (
        "gzip-bomb-20g",
        lambda: case("bomb-20g", single_layer_case(lambda p: bomb(p, 20 << 30))),
        ["--max-uncompressed-size", "1G", "--max-file-size", "100G"],
    ),
    ("layer-like-300k", lambda: os.path.join(WORK, "blobs-300k.tar.gz"), []),
    ("buildkit-count", lambda: case("buildkit", buildkit_case), []),
    (
        "gnu-long-name-1g",
        lambda: case("long-name-1g", single_layer_case(lambda p: long_name(p, 1 << 30))),
        [],
    ),
    ("history-1m", lambda: case("history-1m", history_case), []),
    ("rpmdb-view", lambda: case("rpmdb-view", single_layer_case(rpmdb_view)), []),
    (
        "long-lines-10x1m",
        lambda: case("long-lines", single_layer_case(lambda p: long_lines(p, 10, 1 << 20))),
        [],
    ),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="")
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "portcullis"))
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    if not os.path.exists(args.bin):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    only = set(filter(None, args.only.split(",")))
    blobs = os.path.join(WORK, "blobs-300k.tar.gz")
    if (not only or "layer-like-300k" in only) and not os.path.exists(blobs):
        layer_like_blobs(blobs, 300_000)
    print(f"{'case':<20} {'exit':>4} {'seconds':>8} {'peak MiB':>9}  stderr")
    for name, make, extra in CASES:
        if only and name not in only:
            continue
        image = make()
        cmd = ["/usr/bin/time", "-f", "%e %M", args.bin, "scan", image, "--format", "json",
               "--no-cache", "--trivy", "off", "--exit-code", "0"] + extra
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        lines = run.stderr.strip().splitlines()
        seconds, peak_kib = lines[-1].split()
        message = next((l for l in lines[:-1] if l.startswith("portcullis:")), "")
        print(f"{name:<20} {run.returncode:>4} {float(seconds):>8.2f} "
              f"{int(peak_kib) / 1024:>9.1f}  {message[:100]}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
