"""Evidence export: what a scope covers, and the files that prove it, built from answers read through graph/.

- scope.py     which changes an export covers (one change, a service's deployments, a period) and reading them
- bundle.py    the JSON evidence bundle: answers, subgraph, raw documents, reports, manifest.json
- manifest.py  the names, SHA-256 digests and stamps a bundle is checked by
- table.py     the auditor's CSV, one row per change
- html.py      the printable HTML report
- intoto.py    the in-toto Statement over the merge commits that pins the manifest
- archive.py   a bundle as a folder, .zip or .tar.gz, written and read back
- verify.py    recomputing every digest of a bundle and naming what changed

Builders are pure (answers in, bytes out); only `scope.collect` reads, and only through graph/. The API
(api/export.py) and the CLI (cli/export.py) wrap this package.
"""
