"""Reference implementations that portcullis attestations are tested against.

  interop.py verify ENVELOPE PUBLIC_PEM KEYID
      securesystemslib's DSSE verifies a portcullis envelope (exit 0), or not (exit 1).
  interop.py sign PAYLOAD_FILE PAYLOAD_TYPE PRIVATE_PEM KEYID OUT
      securesystemslib's DSSE signs a payload with a (plain PKCS#8) portcullis key.
  interop.py cosign-key PRIVATE_PEM PASSWORD OUT [LABEL]
      writes the key as cosign does: scrypt + NaCl secretbox over its PKCS#8 DER, in
      go-securesystemslib's JSON envelope, PEM-armoured as ENCRYPTED SIGSTORE PRIVATE KEY
      (or LABEL: cosign before 2.0 wrote ENCRYPTED COSIGN PRIVATE KEY).
"""

import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import serialization


def sslib_key(public_pem, keyid):
    from securesystemslib.signer import SSlibKey

    public = serialization.load_pem_public_key(public_pem)
    return SSlibKey.from_crypto(public, keyid=keyid)


def verify(envelope_path, public_path, keyid):
    from securesystemslib.dsse import Envelope

    envelope = Envelope.from_dict(json.load(open(envelope_path)))
    key = sslib_key(open(public_path, "rb").read(), keyid)
    try:
        envelope.verify([key], 1)
    except Exception as e:  # VerificationError, and anything else that means "no"
        print(f"securesystemslib: not verified: {e}", file=sys.stderr)
        return 1
    print("securesystemslib: verified")
    return 0


def sign(payload_path, payload_type, private_path, keyid, out_path):
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner

    private = serialization.load_pem_private_key(open(private_path, "rb").read(), None)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signer = CryptoSigner(private, sslib_key(public_pem, keyid))
    envelope = Envelope(open(payload_path, "rb").read(), payload_type, {})
    envelope.sign(signer)
    with open(out_path, "w") as f:
        json.dump(envelope.to_dict(), f)
    return 0


def cosign_key(private_path, password, out_path, label="ENCRYPTED SIGSTORE PRIVATE KEY"):
    import nacl.secret

    private = serialization.load_pem_private_key(open(private_path, "rb").read(), None)
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt = os.urandom(32)
    n, r, p = 32768, 8, 1
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 << 20, dklen=32)
    nonce = os.urandom(24)
    ciphertext = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext
    b64 = lambda b: base64.b64encode(b).decode()
    blob = json.dumps(
        {
            "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": b64(salt)},
            "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)},
            "ciphertext": b64(ciphertext),
        }
    ).encode()
    body = base64.b64encode(blob).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    pem = "\n".join(
        [f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""]
    )
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pem)
    return 0


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    sys.exit({"verify": verify, "sign": sign, "cosign-key": cosign_key}[command](*args))
