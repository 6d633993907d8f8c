#!/usr/bin/python3
"""Makes a connection token (a JWT, RFC 7519) for ringws --auth jwt, for tests and curl users.

Production tokens come from your own backend, which knows who the user is and signs with a
key that never leaves it; this script is the same thing for a terminal.

usage: scripts/mint-token.py --sub alice (--secret-file FILE | --key-file PRIVATE.pem)
                             [--ttl SECONDS | --exp EPOCH] [--nbf EPOCH] [--iat EPOCH | --no-iat]
                             [--rooms 'lobby,team:*'] [--publish lobby] [--claim NAME=JSON ...]
                             [--header-alg ALG] [--no-exp] [--count N]

  --secret-file FILE   HS256 with the secret in FILE (one trailing newline is not part of it,
                       as ringws reads it): the file given to ringws --jwt-secret-file
  --key-file FILE      RS256 (RSA) or ES256 (EC P-256) with this PEM private key; ringws gets
                       the public key (openssl pkey -in FILE -pubout) with --jwt-public-key-file
  --ttl SECONDS        exp = now + SECONDS (default 600)
  --rooms LIST         comma-separated room patterns the user may join ('*' as a suffix)
  --publish LIST       comma-separated room patterns the user may publish to
  --claim NAME=JSON    any other claim, its value as JSON (repeatable)
  --header-alg ALG     write ALG in the header whatever the signature is (tests of refusals)
  --count N            N tokens, one a line, for users SUB-0 to SUB-(N-1) (for load tests and
                       scripts/memory-figure.sh --paths-file)

HS256 needs only the standard library; RS256 and ES256 use python3-cryptography (apt).
The token goes to stdout. Use it as ws://HOST:PORT/ws?token=TOKEN, or in a browser as
new WebSocket(url, ["ringws.v1", "bearer." + TOKEN]).
"""

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def read_secret(path):
    with open(path, "rb") as f:
        secret = f.read()
    # ringws strips one trailing "\n" or "\r\n" (a file from `openssl rand -hex 32 > FILE`).
    if secret.endswith(b"\r\n"):
        secret = secret[:-2]
    elif secret.endswith(b"\n"):
        secret = secret[:-1]
    return secret


def sign_with_key(key_path, signing_input):
    """(alg, raw JWS signature) with an RSA or EC P-256 private key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256", key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        r, s = utils.decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return "ES256", r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS wants R || S, not DER
    sys.exit("mint-token: the key is neither RSA nor EC P-256")


def mint(sub, secret=None, key_path=None, ttl=600, exp=None, nbf=None, iat=None, rooms=None, publish=None,
         extra=None, header_alg=None, now=None):
    now = int(time.time()) if now is None else now
    claims = {"sub": sub}
    if exp is not False:
        claims["exp"] = exp if exp is not None else now + ttl
    if iat is not False:
        claims["iat"] = now if iat is None else iat
    if nbf is not None:
        claims["nbf"] = nbf
    if rooms is not None:
        claims["rooms"] = rooms
    if publish is not None:
        claims["publish"] = publish
    claims.update(extra or {})
    alg = "HS256" if secret is not None else None
    if key_path is not None:
        from cryptography.hazmat.primitives import serialization  # noqa: F401 (checks the package early)
    header = {"alg": header_alg or alg or "RS256", "typ": "JWT"}
    if key_path is not None and header_alg is None:
        header["alg"] = sign_with_key(key_path, b"x")[0]
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode())).encode()
    if secret is not None:
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    else:
        signature = sign_with_key(key_path, signing_input)[1]
    return signing_input.decode() + "." + b64url(signature)


def patterns(text):
    return [p.strip() for p in text.split(",") if p.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sub", required=True)
    key = ap.add_mutually_exclusive_group(required=True)
    key.add_argument("--secret-file")
    key.add_argument("--key-file")
    ap.add_argument("--ttl", type=int, default=600)
    ap.add_argument("--exp", type=int)
    ap.add_argument("--no-exp", action="store_true", help="leave exp out (ringws refuses such a token)")
    ap.add_argument("--nbf", type=int)
    ap.add_argument("--iat", type=int)
    ap.add_argument("--no-iat", action="store_true")
    ap.add_argument("--rooms", type=patterns)
    ap.add_argument("--publish", type=patterns)
    ap.add_argument("--claim", action="append", default=[], metavar="NAME=JSON")
    ap.add_argument("--header-alg")
    ap.add_argument("--count", type=int)
    a = ap.parse_args()
    extra = {}
    for c in a.claim:
        name, _, value = c.partition("=")
        extra[name] = json.loads(value)
    secret = read_secret(a.secret_file) if a.secret_file else None
    subs = [a.sub] if a.count is None else [f"{a.sub}-{i}" for i in range(a.count)]
    now = int(time.time())
    for sub in subs:
        print(mint(sub, secret=secret, key_path=a.key_file, ttl=a.ttl, exp=False if a.no_exp else a.exp, nbf=a.nbf,
                   iat=False if a.no_iat else a.iat, rooms=a.rooms, publish=a.publish, extra=extra,
                   header_alg=a.header_alg, now=now))


if __name__ == "__main__":
    main()
