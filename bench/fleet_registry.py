"""Lists what a registry holds of the fleet: for bench/fleet.sh.

    fleet_registry.py REGISTRY N OUT.json

Writes {tag: {"digest": manifest digest, "layers": [layer digests]}} for the tags 0..N-1 of
REGISTRY/fleet, as the registry serves them (skopeo compresses the layout's uncompressed
layers on the way in, so the registry's digests are not the layout's).
"""
import http.client
import json
import sys

registry, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
host, port = registry.split(":")
conn = http.client.HTTPConnection(host, int(port), timeout=60)
held = {}
for tag in map(str, range(n)):
    conn.request("GET", f"/v2/fleet/manifests/{tag}",
                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, (tag, response.status, body[:200])
    manifest = json.loads(body)
    held[tag] = {"digest": response.getheader("Docker-Content-Digest"),
                 "layers": [l["digest"] for l in manifest["layers"]]}
json.dump(held, open(out, "w"))
