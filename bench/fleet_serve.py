"""Drives `portcullis serve` replicas through Harbor's scanner API for bench/fleet.sh.

    fleet_serve.py HELD.json REGISTRY TOKEN PORT [PORT ...]

Submits one ScanRequest per image REGISTRY/fleet holds (HELD.json, bench/fleet_registry.py's
list of tags and manifest digests), round-robin over the replicas listening on 127.0.0.1:PORT,
then polls every report (302 while running) on the next replica, not the one that took the
request (they share their jobs through Redis), until each is a 200 or an error. Prints the counts and the time
from the first request to the last report.
"""
import http.client
import json
import sys
import time

held, registry, token_file, ports = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
token = open(token_file).read().strip()
images = [(tag, image["digest"]) for tag, image in json.load(open(held)).items()]
ACCEPT = "application/vnd.security.vulnerability.report; version=1.1"
conns = {p: http.client.HTTPConnection("127.0.0.1", int(p), timeout=60) for p in ports}


def call(port, method, path, body=None, accept=None):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
    if accept:
        headers["Accept"] = accept
    for attempt in range(3):
        conn = conns[port]
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            conns[port] = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
            if attempt == 2:
                raise


start = time.monotonic()
jobs = []
refused = 0
for n, (tag, digest) in enumerate(images):
    port = ports[n % len(ports)]
    request = json.dumps({
        "registry": {"url": f"http://{registry}"},
        "artifact": {"repository": "fleet", "tag": tag, "digest": digest,
                     "mime_type": "application/vnd.oci.image.manifest.v1+json"},
    })
    status, body = call(port, "POST", "/api/v1/scan", request)
    if status == 202:
        # Polled on another replica, as Harbor behind a Service may: the replicas share
        # their jobs through Redis.
        jobs.append((ports[(n + 1) % len(ports)], json.loads(body)["id"]))
    else:
        refused += 1
submitted = time.monotonic() - start
done, failed, pending = 0, 0, jobs
while pending:
    still = []
    for port, job in pending:
        status, _ = call(port, "GET", f"/api/v1/scan/{job}/report", accept=ACCEPT)
        if status == 302:
            still.append((port, job))
        elif status == 200:
            done += 1
        else:
            failed += 1
    pending = still
    if pending:
        time.sleep(0.5)
elapsed = time.monotonic() - start
print(f"{len(images)} requests ({refused} refused) submitted in {submitted:.1f} s; "
      f"{done} reports, {failed} failed, in {elapsed:.1f} s ({done / elapsed:.1f} images/s)")
