"""Every source tracegraph ingests, by name.

Adding a source is one module in this folder that defines `SOURCE = Source(...)`; it is found here.
"""

from __future__ import annotations

import importlib
import pkgutil

from ingest.sources.base import Source


def _discover() -> dict[str, Source]:
    found: dict[str, Source] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        source = getattr(module, "SOURCE", None)
        if isinstance(source, Source):
            if source.name in found:
                raise RuntimeError(f"two sources are named {source.name!r}")
            found[source.name] = source
    return found


SOURCES: dict[str, Source] = _discover()
