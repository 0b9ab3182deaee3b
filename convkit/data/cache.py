"""The one cache folder convkit writes derived data to (decoded clips, sampled point sets,
generated sound events): never next to a user's data, which may be read-only."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$CONVKIT_CACHE``, else ``$XDG_CACHE_HOME/convkit``, else ``~/.cache/convkit``,
    joined with ``parts`` (e.g. ``cache_dir("pointcloud")``). Not created here: writers
    create what they write, so a run that writes nothing leaves no folder behind."""
    root = os.environ.get("CONVKIT_CACHE")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "convkit"
    return Path(root).joinpath(*parts)
