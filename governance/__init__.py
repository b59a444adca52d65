"""Executable governance: gates that fail closed, break-glass exceptions, what runs in production and
whether it is compliant, rollback drills, and audit periods.

- gate.py          may this commit, change or deployment ship? (the CLI's exit status, the API, GitHub)
- ranges.py        what shipping a commit adds: git ancestry since what runs there now (pure)
- requirements.py  the policy's requirements one by one, met or not, and how to supply what is missing
- exceptions.py    who may grant, revoke and review an exception; when it covers; the gaps it is of its own
- status.py        per service: what runs, how much of it is not VERIFIED, since when it is compliant, drills
- drills.py        rollback drills: recording one, and whether a service's is overdue
- audit_period.py  population, reproducible sample, evidence bundles, exceptions and controls of a period
- controls.py      the controls file: framework controls mapped to the policy's requirements
- github.py        answering GitHub: deployment protection rule callbacks and commit statuses
- models.py        the answers
"""
