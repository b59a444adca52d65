"""A risk area's path patterns, compiled into one expression, match exactly what fnmatchcase matches."""

from __future__ import annotations

import random
from fnmatch import fnmatchcase

from graph.policy import Area, load_policy


def test_compiled_area_paths_match_as_fnmatchcase_does() -> None:
    patterns = [p for area in load_policy().areas.values() for p in area.paths]
    patterns += ["*.py", "src/[ab]*/x?.go", "docs/*", "[!t]*.md"]
    parts = ["auth", "src", "a", "b", "docs", "x1.go", "main.py", "payments", "infra", "README.md", "t.md", "oauth"]
    rng = random.Random(0)
    matched = 0
    for _ in range(5000):
        path = "/" + "/".join(rng.choice(parts) for _ in range(rng.randint(1, 5)))
        chosen = rng.sample(patterns, rng.randint(1, 4))
        expected = any(fnmatchcase(path, p) for p in chosen)
        assert bool(Area(paths=chosen).path_pattern.match(path)) == expected, (path, chosen)
        matched += expected
    assert 200 < matched < 4800  # both outcomes well exercised
