"""`p2pfed keygen`: create a node's Ed25519 identity and print its roster entry."""

from __future__ import annotations

from pathlib import Path

import typer

from p2pfed.config import Member
from p2pfed.wire.crypto import Identity, write_key_file


def keygen(
    out: Path = typer.Option(..., "--out", help="Folder to write the secret key into (created with mode 0700 if missing)."),
    node_id: str = typer.Option("node", "--id", help="Node id; the key file is <out>/<id>.key."),
    address: str = typer.Option("tcp://HOST:7700", "--address", help="This node's ZeroMQ address, for the printed roster entry."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing key file."),
) -> None:
    """Create an Ed25519 secret key (file mode 0600) and print the public key and a roster entry."""
    ident = Identity.generate()
    if address != "tcp://HOST:7700":
        Member(node_id, ident.public_key_b64, address)  # validates id and address
    if not out.exists():
        out.mkdir(parents=True, mode=0o700)
    path = write_key_file(out / f"{node_id}.key", ident, node_id, force=force)
    typer.echo(f"secret key written to {path} (mode 0600; keep it on this device only)", err=True)
    typer.echo(f"public key: {ident.public_key_b64}", err=True)
    typer.echo("add this to the federation's roster.toml on every device:", err=True)
    typer.echo(f'\n[[member]]\nid = "{node_id}"\npublic_key = "{ident.public_key_b64}"\naddress = "{address}"\n')
