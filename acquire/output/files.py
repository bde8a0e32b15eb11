"""Files that are complete or absent: atomic writes, strict JSON, checked output directories."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    A reader never sees a half-written file: on any error the temporary
    file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    try:
        with open(tmp, "xb") as fh:  # not mkstemp: keep the umask's permissions, not 0600
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path



def ensure_writable_dir(out_dir) -> Path:
    """Create ``out_dir`` if needed and check it is writable; ValueError naming the fix if not."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"output directory {out} cannot be created ({exc.strerror}); "
                         f"choose another --out.") from None
    if not os.access(out, os.W_OK):
        raise ValueError(f"output directory {out} is not writable; choose another --out.")
    return out


def write_json(path: Path, obj) -> Path:
    """Strict JSON (no NaN/inf literals), written atomically."""
    return atomic_write(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode())
