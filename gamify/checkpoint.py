"""Atomic, checksummed checkpoints of array pytrees (no pickle).

A checkpoint stores the leaves of a pytree in an ``.npz`` archive plus a JSON
metadata record, behind a header with a SHA-256 of the payload. Loading needs a
*template* pytree of the same structure (built fresh from the config), so the
file holds only numbers and cannot execute code. Files are written to a
temporary name, fsynced and renamed, so a kill at any moment leaves either the
old or the new checkpoint, never a torn one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

MAGIC = b"GAMIFY-CHECKPOINT-1\n"


class CheckpointError(RuntimeError):
    """The checkpoint is missing, corrupt or does not match the run's configuration."""


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Writes ``payload`` to ``path`` so that readers see the old or the new file, never a mix."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; files get the user's usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:  # a full disk's write() names no file
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save(path: Path, tree: Any, metadata: dict) -> None:
    """Saves the array leaves of ``tree`` and a JSON-serialisable ``metadata`` dict."""
    leaves = [np.asarray(x) for x in jax.tree.leaves(tree)]
    buffer = io.BytesIO()
    np.savez(buffer, *leaves, metadata=np.frombuffer(json.dumps(metadata).encode(), np.uint8))
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    atomic_write_bytes(Path(path), MAGIC + digest + b"\n" + payload)


def load(path: Path, template: Any) -> tuple[Any, dict]:
    """Loads a checkpoint into the structure of ``template``; returns ``(tree, metadata)``.

    Raises:
      CheckpointError: the file is missing, truncated, corrupt, or its arrays do
        not match the template's shapes and dtypes.
    """
    path = Path(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror}") from None
    header_len = len(MAGIC) + 65
    if not blob.startswith(MAGIC) or len(blob) < header_len:
        raise CheckpointError(f"{path} is not a gamify checkpoint")
    digest, payload = blob[len(MAGIC) : header_len - 1], blob[header_len:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CheckpointError(f"{path} is corrupt (checksum mismatch)")
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        metadata = json.loads(archive["metadata"].tobytes().decode())
        template_leaves, treedef = jax.tree.flatten(template)
        names = [f"arr_{i}" for i in range(len(template_leaves))]
        if set(archive.files) != {*names, "metadata"}:
            raise CheckpointError(f"{path} does not match this run's configuration (different structure)")
        leaves = [archive[name] for name in names]
    for name, leaf, ref in zip(names, leaves, template_leaves, strict=True):
        ref = np.asarray(ref)
        if leaf.shape != ref.shape or leaf.dtype != ref.dtype:
            raise CheckpointError(
                f"{path} does not match this run's configuration "
                f"({name}: {leaf.dtype}{list(leaf.shape)} vs {ref.dtype}{list(ref.shape)})"
            )
    return jax.tree.unflatten(treedef, leaves), metadata
