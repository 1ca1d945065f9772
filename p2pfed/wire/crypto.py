"""Node identity (Ed25519 key files) and the NaCl primitives every message goes through.

A node's only secret is a 32-byte Ed25519 seed.  Signing uses it directly; encryption uses the
X25519 key derived from it (libsodium's ed25519 -> curve25519 conversion), so one roster entry
(the Ed25519 public key) is enough for peers both to verify and to encrypt.  Bodies are
encrypted with NaCl Box (X25519 + XSalsa20-Poly1305) using the per-peer shared key computed
once (`crypto_box_beforenm`), which is exactly what `nacl.public.Box` does internally.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nacl.bindings as sodium
import nacl.exceptions
import nacl.signing
import nacl.utils

from p2pfed.errors import KeyFileError

KEY_HEADER = "p2pfed-ed25519-secret-v1"
NONCE_BYTES = sodium.crypto_box_NONCEBYTES  # 24
SIGNATURE_BYTES = 64
BOX_OVERHEAD = 16  # Poly1305 tag
#: Domain separation: a p2pfed signature can never be replayed as a signature of anything else.
SIGNING_DOMAIN = b"p2pfed/v1/envelope\x00"


class CryptoError(Exception):
    """A signature did not verify or a ciphertext did not authenticate."""


@dataclass(frozen=True)
class Identity:
    """A node's Ed25519 signing key and the X25519 key derived from it."""

    signing_key: nacl.signing.SigningKey = field(repr=False)

    @classmethod
    def generate(cls) -> Identity:
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        return cls(nacl.signing.SigningKey(seed))

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_key).decode()

    @property
    def box_secret(self) -> bytes:
        return bytes(self.signing_key.to_curve25519_private_key())

    def sign(self, data: bytes) -> bytes:
        return self.signing_key.sign(data).signature


def write_key_file(path: str | Path, identity: Identity, node_id: str = "", force: bool = False) -> Path:
    """Write `identity`'s secret seed to `path` with mode 0600 (created that way, never widened)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists() and not force:
        raise KeyFileError(f"{p} already exists; refusing to overwrite a secret key (use --force)")
    seed = base64.b64encode(bytes(identity.signing_key)).decode()
    text = (
        f"# p2pfed secret key{' for ' + node_id if node_id else ''}. Keep it private (mode 0600);\n"
        f"# anyone who reads it can impersonate this node. Public key: {identity.public_key_b64}\n"
        f"{KEY_HEADER} {seed}\n"
    )
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, p)
    return p


def read_key_file(path: str | Path) -> Identity:
    """Load a secret key written by `write_key_file`; refuse one that group/others can read."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise KeyFileError(f"key file {p} not found; create one with `p2pfed keygen --out DIR`") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"key file {p} is not a regular file")
    if st.st_mode & 0o077:
        raise KeyFileError(
            f"key file {p} is accessible by group/others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"a node refuses to use a key others may read. Fix it with: chmod 600 {p}"
        )
    try:
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError(f"cannot read key file {p}: {e}") from None
    for ln in lines:
        if ln.startswith(KEY_HEADER):
            try:
                seed = base64.b64decode(ln[len(KEY_HEADER) :].strip(), validate=True)
                return Identity.from_seed(seed)
            except ValueError:
                break
    raise KeyFileError(f"{p} is not a p2pfed key file (expected a '{KEY_HEADER} <base64>' line)")


class Keyring:
    """Roster public keys and the per-peer Box keys derived from them, computed once."""

    def __init__(self, me: Identity, public_keys: Mapping[str, bytes]) -> None:
        # every key is checked now (a malformed roster key fails at start-up); the Curve25519
        # conversion and the Box precomputation happen on first use of a peer, so a member of a
        # 1,000-node roster pays only for the peers it actually talks to
        self.__init_shared(me, verify_keys(public_keys))

    @classmethod
    def shared(cls, me: Identity, keys: Mapping[str, nacl.signing.VerifyKey]) -> Keyring:
        """A keyring over an existing, read-only map of verify keys (many simulated nodes share one)."""
        k = cls.__new__(cls)
        k.__init_shared(me, keys)
        return k

    def __init_shared(self, me: Identity, keys: Mapping[str, nacl.signing.VerifyKey]) -> None:
        self.me = me
        self._verify = keys
        self._box: dict[str, bytes] = {}
        self._my_box_secret = me.box_secret

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._verify

    def _box_key(self, peer: str) -> bytes:
        key = self._box.get(peer)
        if key is None:
            peer_box_public = bytes(self._verify[peer].to_curve25519_public_key())
            key = self._box[peer] = sodium.crypto_box_beforenm(peer_box_public, self._my_box_secret)
        return key

    def encrypt(self, peer: str, plaintext: bytes) -> tuple[bytes, bytes]:
        """(nonce, ciphertext) of `plaintext` for `peer`; a fresh random nonce every time."""
        nonce = nacl.utils.random(NONCE_BYTES)
        return nonce, sodium.crypto_box_easy_afternm(plaintext, nonce, self._box_key(peer))

    def decrypt(self, peer: str, nonce: bytes, ciphertext: bytes) -> bytes:
        try:
            return sodium.crypto_box_open_easy_afternm(ciphertext, nonce, self._box_key(peer))
        except (nacl.exceptions.CryptoError, nacl.exceptions.TypeError, ValueError) as e:
            raise CryptoError(f"decryption failed: {e}") from None

    def sign(self, head: bytes, body: bytes) -> bytes:
        return self.me.sign(signed_bytes(head, body))

    def verify(self, peer: str, head: bytes, body: bytes, signature: bytes) -> None:
        try:
            self._verify[peer].verify(signed_bytes(head, body), signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError) as e:
            raise CryptoError(f"bad signature: {e}") from None


def verify_keys(public_keys: Mapping[str, bytes]) -> dict[str, nacl.signing.VerifyKey]:
    """Parse roster public keys (32 raw bytes each) into verify keys."""
    return {node_id: nacl.signing.VerifyKey(pk) for node_id, pk in public_keys.items()}


def signed_bytes(head: bytes, body: bytes) -> bytes:
    """What an envelope signature covers: domain, the whole head, and the body's Box MAC tag.

    The head carries the nonce, and the body is a Box ciphertext whose Poly1305 tag (its first
    16 bytes) authenticates every body byte under the sender-recipient key and that nonce.  So
    the signature binds sender, header and body while costing the same for any body size: a
    receiver checks it before doing any per-byte work, and nobody without a member's key can
    make a node hash or decrypt a large body.  (Hashing the body instead cost a full extra pass
    on each side; signing all of it with Ed25519 two SHA-512 passes; see docs/benchmarks.md.)
    """
    return SIGNING_DOMAIN + len(head).to_bytes(4, "big") + head + body[:BOX_OVERHEAD]
