"""Tokens for the --auth jwt tests, made by scripts/mint-token.py (the code a curl user runs),
and the key files a server is started with."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("mint_token", REPO / "scripts" / "mint-token.py")
mint_token = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mint_token)

SECRET = b"integration-tests-hs256-secret-of-more-than-32-bytes"


def secret_file(directory):
    """A --jwt-secret-file holding SECRET, with the trailing newline an editor or echo leaves."""
    path = Path(directory) / "jwt-secret"
    path.write_bytes(SECRET + b"\n")
    return str(path)


def token(sub="alice", **kw):
    """An HS256 token under SECRET; keyword arguments as mint_token.mint (ttl, exp, rooms, ...)."""
    return mint_token.mint(sub, secret=SECRET, **kw)


def key_pair_files(directory, kind):
    """(private PEM path, public PEM path) of a fresh RSA 2048 or EC P-256 key ("rsa" or "ec")."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    private = Path(directory) / f"{kind}-private.pem"
    public = Path(directory) / f"{kind}-public.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(private), str(public)
