"""Identity key files (mode 0600, refused when readable by others) and the NaCl primitives."""

from __future__ import annotations

import os

import pytest

from helpers import federation
from p2pfed.wire.crypto import CryptoError, Identity, Keyring, read_key_file, signed_bytes, write_key_file
from p2pfed.errors import KeyFileError


def test_key_file_round_trip_and_mode(tmp_path):
    ident = Identity.generate()
    p = write_key_file(tmp_path / "keys" / "n0.key", ident, "n0")
    assert (p.stat().st_mode & 0o777) == 0o600
    assert read_key_file(p).public_key == ident.public_key
    assert ident.public_key_b64 in p.read_text()  # public key noted for the operator
    assert "secret" in p.read_text()


def test_refuses_overwrite_without_force(tmp_path):
    p = write_key_file(tmp_path / "k", Identity.generate())
    with pytest.raises(KeyFileError, match="already exists"):
        write_key_file(p, Identity.generate())
    write_key_file(p, Identity.generate(), force=True)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_refuses_key_readable_by_others(tmp_path, mode):
    p = write_key_file(tmp_path / "k", Identity.generate())
    os.chmod(p, mode)
    with pytest.raises(KeyFileError, match=f"chmod 600 {p}"):
        read_key_file(p)


def test_missing_and_malformed_key_files(tmp_path):
    with pytest.raises(KeyFileError, match="p2pfed keygen"):
        read_key_file(tmp_path / "nope")
    bad = tmp_path / "bad"
    bad.write_text("hello\n")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyFileError, match="not a p2pfed key file"):
        read_key_file(bad)
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="not a regular file"):
        read_key_file(tmp_path / "dir")


def test_box_encrypts_to_the_recipient_only():
    fed = federation(3)
    a = Keyring(fed.identities["n0"], fed.public_keys)
    b = Keyring(fed.identities["n1"], fed.public_keys)
    c = Keyring(fed.identities["n2"], fed.public_keys)
    nonce, ct = a.encrypt("n1", b"secret model")
    assert b"secret model" not in ct
    assert b.decrypt("n0", nonce, ct) == b"secret model"
    with pytest.raises(CryptoError):
        c.decrypt("n0", nonce, ct)  # a third member cannot read it
    with pytest.raises(CryptoError):
        b.decrypt("n0", nonce, ct[:-1] + bytes([ct[-1] ^ 1]))
    assert a.encrypt("n1", b"x")[0] != a.encrypt("n1", b"x")[0]  # fresh nonce every time


def test_signature_binds_head_and_body_tag():
    fed = federation(2)
    a = Keyring(fed.identities["n0"], fed.public_keys)
    b = Keyring(fed.identities["n1"], fed.public_keys)
    tag = bytes(range(16))
    sig = a.sign(b"head", tag + b"ciphertext")
    b.verify("n0", b"head", tag + b"ciphertext", sig)
    for head, body in ((b"heaD", tag), (b"head", b"\xff" + tag[1:]), (b"headb", tag), (b"hea", b"d" + tag)):
        with pytest.raises(CryptoError):
            b.verify("n0", head, body, sig)
    with pytest.raises(CryptoError):
        b.verify("n1", b"head", b"body", sig)  # not n1's signature
    assert signed_bytes(b"h", b"b").startswith(b"p2pfed/v1/envelope\x00")
