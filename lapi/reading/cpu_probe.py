"""What this CPU can do, as torch sees it: the recogniser's arithmetic depends on it."""

from __future__ import annotations

import torch


def cpu_has(probe_name: str) -> bool:
    """The answer of ``torch.cpu.<probe_name>()`` (e.g. ``_is_vnni_supported``), False where this
    torch has no such probe or it fails: the probes are private in torch 2.x."""
    probe = getattr(torch.cpu, probe_name, None)
    try:
        return bool(probe is not None and probe())
    except RuntimeError:
        return False
