"""Core statements: schema, the versioned MERGE writer, and the five-minute answer."""

from __future__ import annotations

import re
from functools import cache

from graph.batch import TRUST_MARK
from graph.vocabulary import (
    EDGE_PROPERTIES,
    KEYS,
    ORIGIN_PROPERTIES,
    PROPERTIES,
    TRANSPORT_PROPERTIES,
    TRUST_FLOOR,
    TRUST_ORDER,
    TRUSTED_LABELS,
    Label,
    Rel,
)

AWAIT_INDEXES = "CALL db.awaitIndexes(300)"


def unique_constraint(label: Label, key: str) -> str:
    return (
        f"CREATE CONSTRAINT {label.lower()}_{key.lower()} IF NOT EXISTS FOR (n:`{label}`) REQUIRE n.`{key}` IS UNIQUE"
    )


def property_index(label: Label, prop: str) -> str:
    return f"CREATE INDEX {label.lower()}_{prop.lower()} IF NOT EXISTS FOR (n:`{label}`) ON (n.`{prop}`)"


# Writer statements keep their first plan: from an empty database to millions of nodes the only sensible
# plan is the same (unique-constraint seeks, Expand(Into)), while re-planning a large statement each time
# the statistics move costs hundreds of milliseconds during a bulk load.
_KEEP_PLAN = "CYPHER replan=skip\n"


@cache
def merge_nodes(label: Label, props: tuple[str, ...]) -> str:
    """MERGE nodes of one label; for each of `props`, each node keeps the value with the highest version.

    A row is [key, [value or null, in `props` order], version] or, when its values come from different
    versions, [key, values, version, [version or null per property]] (row[3] is null on a shorter row).
    Null means the row asserts nothing about that property: it is left as it is. A value is written
    only when the row's version is >= the property's stored version, so replays and reorderings
    converge. Rows and values travel as lists, fields by position, rather than maps: the normalising
    process pickles them, the driver packs them and Neo4j unpacks them, and a map costs each of the
    three its keys (10,000 changes, two A/B pairs in one run: 3,276/3,566 -> 3,790/3,675 events/s end
    to end). Rows must name each node once per statement (the writer folds duplicates): Cypher may
    read every row's current versions before it applies any row's SET.

    Versions are stored compactly (see graph.writer.versions): the node's `_v` is the version of every
    present property without its own `_v_<prop>`. `_v` is fixed by the node's first write, so a node
    written by one event, most of them, stores one version instead of one per property; a later write
    at another version records `_v_<prop>` for what it changes. A property that is absent and has no
    `_v_<prop>` was never written, and any version may set it.

    A node without `_v` (new, or created as an edge's endpoint) and a row of one version, most rows of
    a bulk load, take the short path the rules reduce to there: every value the row carries wins and
    no `_v_<prop>` is needed. Skipping the comparisons made the writer 11-12 % faster (10,000 changes).
    """
    # Names are interpolated into Cypher, so only the closed vocabulary may reach it.
    if not set(props) <= PROPERTIES[label] | ORIGIN_PROPERTIES or len(set(props)) != len(props):
        raise ValueError(f"{label} has no properties {sorted(set(props) - PROPERTIES[label] - ORIGIN_PROPERTIES)}")
    merge = f"{_KEEP_PLAN}UNWIND $rows AS row\nMERGE (n:`{label}` {{`{KEYS[label]}`: row[0]}})"
    if not props:
        return merge
    wins = ", ".join(
        f"row[1][{i}] IS NOT NULL AND (n.`{p}` IS NULL AND n.`_v_{p}` IS NULL OR v[{i}] >= coalesce(n.`_v_{p}`, base))"
        for i, p in enumerate(props)
    )
    sets = ",\n    ".join(
        f"n.`{p}` = CASE WHEN fresh THEN coalesce(row[1][{i}], n.`{p}`) WHEN w[{i}] THEN row[1][{i}] ELSE n.`{p}` END, "
        f"n.`_v_{p}` = CASE WHEN fresh OR NOT w[{i}] THEN n.`_v_{p}` WHEN v[{i}] = base THEN null ELSE v[{i}] END"
        for i, p in enumerate(props)
    )
    # A row that would leave every fact and its version as they are writes nothing (a replay): only
    # where it came from differs, and the first arrival of a fact is the one kept.
    changes = " OR ".join(
        f"w[{i}] AND (n.`{p}` IS NULL OR n.`{p}` <> row[1][{i}] OR coalesce(n.`_v_{p}`, base) <> v[{i}])"
        for i, p in enumerate(props)
        if p not in TRANSPORT_PROPERTIES
    )
    return (
        f"{merge}\nWITH n, row, coalesce(row[3], [x IN row[1] | row[2]]) AS v, coalesce(n._v, row[2]) AS base,"
        " n._v IS NULL AND row[3] IS NULL AS fresh\n"
        f"WITH n, row, v, base, fresh, CASE WHEN fresh THEN null ELSE [{wins}] END AS w\n"
        f"WITH n, row, v, base, fresh, w WHERE fresh OR n._v IS NULL OR {changes or 'false'}\n"
        f"SET n._v = base,\n    {sets}" + (_trust_floor(label) if label in TRUSTED_LABELS else "")
    )


def _trust_floor(label: Label) -> str:
    """After a write, the rank of the weakest arrival whose value some property of the node still holds.

    Versions of evidence and reviews carry the trust rank of the event that wrote them
    (`<time>#<rank>#T<trust>#<event id>`, see ingest.pipeline.trust), so two arrivals of one fact at the
    same source time are ordered by trust: a stronger replay takes the fact over, a weaker one writes
    nothing. Facts still follow their source time, so one property can come from a later, weaker
    arrival while another keeps a stronger one's value; the node counts at the weakest of them, never
    at the strongest (graph.models.Evidence reads it back).
    """
    top = len(TRUST_ORDER) - 1
    ranks = ", ".join(
        f"CASE WHEN n.`{p}` IS NULL THEN null ELSE split(coalesce(n.`_v_{p}`, n._v), '#')[2] END"
        for p in sorted(PROPERTIES[label])
    )
    return (
        f"\nWITH n, [part IN [{ranks}] WHERE part IS NOT NULL"
        f" | CASE WHEN part STARTS WITH '{TRUST_MARK}' THEN coalesce(toInteger(substring(part, 1)), 0) ELSE 0 END]"
        " AS ranks\n"
        f"SET n.`{TRUST_FLOOR}` = reduce(low = {top}, r IN ranks | CASE WHEN r < low THEN r ELSE low END)"
    )


@cache
def merge_edges(src: Label, rel: Rel, dst: Label, props: tuple[str, ...]) -> str:
    """MERGE edges of one (label, type, label); the row with the highest version sets what it carries.

    A row is [source key, target key, version, [value or null, in `props` order]]; null leaves that
    property as it is. Missing endpoints are created.
    """
    if not set(props) <= EDGE_PROPERTIES or len(set(props)) != len(props):
        raise ValueError(f"edge {rel} has no properties {sorted(set(props) - EDGE_PROPERTIES)}")
    sets = "".join(f"r.`{p}` = coalesce(row[3][{i}], r.`{p}`), " for i, p in enumerate(props))
    # At the same version (the same event again) a row writes only what it changes: replays write nothing.
    changes = "".join(
        f" OR row[3][{i}] IS NOT NULL AND (r.`{p}` IS NULL OR r.`{p}` <> row[3][{i}])"
        for i, p in enumerate(props)
        if p not in TRANSPORT_PROPERTIES
    )
    return (
        f"{_KEEP_PLAN}UNWIND $rows AS row\n"
        f"MERGE (a:`{src}` {{`{KEYS[src]}`: row[0]}})\n"
        f"MERGE (b:`{dst}` {{`{KEYS[dst]}`: row[1]}})\n"
        f"MERGE (a)-[r:`{rel}`]->(b)\n"
        f"WITH r, row WHERE r._v IS NULL OR row[2] > r._v OR row[2] = r._v AND (false{changes})\n"
        f"SET {sets}r._v = row[2]"
    )


def fields(label: Label) -> str:
    """A map projection of every property `label` may carry, without the writer's versions (`_v`, `_v_<prop>`).

    `n {.*}` would read and ship each property's version too: as many strings again as values, and
    the longer ones, which at 100,000 changes are mostly page-cache misses.
    """
    extra = {TRUST_FLOOR} if label in TRUSTED_LABELS else set()
    return ", ".join(f".`{p}`" for p in sorted(PROPERTIES[label] | ORIGIN_PROPERTIES | {KEYS[label]} | extra))


_FIELDS = re.compile(r"\{\.\*(\w+)")


def with_fields(query: str) -> str:
    """Expand `n {.*Label` into the projection of Label's properties (see fields())."""
    return _FIELDS.sub(lambda m: "{" + fields(Label(m.group(1))), query)


COUNT_NODES = "MATCH (n) RETURN count(n) AS n"
COUNT_EDGES = "MATCH ()-[r]->() RETURN count(r) AS n"
COUNT_BY_LABEL = "MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS n ORDER BY label"
COUNT_BY_TYPE = "MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS n ORDER BY type"
DELETE_ALL = "MATCH (n) DETACH DELETE n"

# The five-minute answer as one read: the change and everything its verdict depends on.
# Evidence counts on the commit its own commitSha names: a VERIFIES edge another event added to a commit
# the evidence is not about (same evidence id, another head_sha, an older source time that writes no
# property) must not carry the evidence, and its trust, over to that commit.
# Commits of a change: heads seen on the pull request, the merge commit, and the commits pushed
# together with one of those heads (a push names its head as pushHead).
CHANGE_ANSWER = with_fields("""
MATCH (c:Change {id: $id})
WITH c, [sha IN [c.headSha, c.mergeCommitSha] WHERE sha IS NOT NULL] AS shipped,
     COLLECT { MATCH (c)-[:CONTAINS|MERGED_AS]->(k:Commit) RETURN DISTINCT k.sha } AS direct
WITH c, shipped,
     direct + COLLECT { UNWIND direct AS head MATCH (k:Commit {pushHead: head})
                        WHERE NOT k.sha IN direct RETURN DISTINCT k.sha } AS shas
WITH c, shipped, shas,
     COLLECT { MATCH (s:AgentSession)-[:PROPOSED]->(c) RETURN s.id AS sid
               UNION
               UNWIND shas AS sha MATCH (:Commit {sha: sha})<-[:AUTHORED]-(s:AgentSession) RETURN s.id AS sid
     } AS sessionIds
RETURN c {.*Change} AS change,
  COLLECT { MATCH (c)-[:IN]->(r:Repository) RETURN r.fullName ORDER BY r.fullName }[0] AS repo,
  COLLECT { MATCH (p:Person)-[:AUTHORED]->(c) RETURN p {.*Person} ORDER BY p.login } AS authors,
  COLLECT { UNWIND shas AS sha MATCH (k:Commit {sha: sha})
            RETURN k {.*Commit, author: COLLECT { MATCH (p:Person)-[:AUTHORED]->(k) RETURN p {.*Person}
                                                  ORDER BY p.login }[0],
                      sessionIds: COLLECT { MATCH (s:AgentSession)-[:AUTHORED]->(k) RETURN s.id
                                            ORDER BY s.id } } } AS commits,
  COLLECT { UNWIND sessionIds AS sid MATCH (s:AgentSession {id: sid})
            RETURN s {.*AgentSession,
                      operator: COLLECT { MATCH (p:Person)-[:OPERATED]->(s) RETURN p {.*Person}
                                          ORDER BY p.login }[0]} } AS sessions,
  COLLECT { MATCH (r:Review)-[:OF]->(c)
            RETURN r {.*Review,
                      reviewer: COLLECT { MATCH (p:Person)-[:SUBMITTED]->(r) RETURN p {.*Person}
                                          ORDER BY p.login }[0]} } AS reviews,
  COLLECT { UNWIND shas + [m IN shipped WHERE NOT m IN shas] AS sha
            MATCH (e:Evidence)-[:VERIFIES]->(:Commit {sha: sha}) WHERE e.commitSha IS NULL OR toLower(e.commitSha) = sha
            RETURN e {.*Evidence, commitSha: sha} } AS evidence,
  COLLECT { UNWIND shipped AS sha MATCH (d:Deployment)-[:SHIPPED]->(:Commit {sha: sha})
            RETURN DISTINCT d {.*Deployment,
                               service: coalesce(COLLECT { MATCH (d)-[:TO]->(s:Service) RETURN s.name
                                                           ORDER BY s.name }[0],
                                                 d.service)} } AS deployments,
  COLLECT { MATCH (i:Incident)-[:CAUSED_BY]->(c) RETURN i {.*Incident} AS i
            UNION
            UNWIND shipped AS sha MATCH (:Commit {sha: sha})<-[:SHIPPED]-(:Deployment)<-[:CAUSED_BY]-(i:Incident)
            RETURN i {.*Incident} AS i } AS incidents,
  COLLECT { MATCH (x:PolicyException)-[:COVERS]->(c) RETURN x {.*} ORDER BY x.grantedAt, x.id } AS exceptions
""")

CHANGE_IDS_OF_SESSION = """
MATCH (s:AgentSession {id: $id})
RETURN COLLECT { MATCH (s)-[:PROPOSED]->(c:Change) RETURN c.id AS id
                 UNION
                 MATCH (s)-[:AUTHORED]->(:Commit)<-[:CONTAINS|MERGED_AS]-(c:Change) RETURN c.id AS id } AS ids
"""

SESSION = with_fields("""
MATCH (s:AgentSession {id: $id})
RETURN s {.*AgentSession, operator: COLLECT { MATCH (p:Person)-[:OPERATED]->(s) RETURN p {.*Person}
                                              ORDER BY p.login }[0]} AS session,
       COLLECT { MATCH (s)-[:AUTHORED]->(k:Commit) RETURN k {.*Commit} } AS commits
""")

COMMIT = with_fields("""
MATCH (k:Commit {sha: $sha})
RETURN k {.*Commit, author: COLLECT { MATCH (p:Person)-[:AUTHORED]->(k) RETURN p {.*Person}
                                      ORDER BY p.login }[0],
          sessionIds: COLLECT { MATCH (s:AgentSession)-[:AUTHORED]->(k) RETURN s.id
                                ORDER BY s.id }} AS commit,
       COLLECT { MATCH (c:Change)-[:CONTAINS|MERGED_AS]->(k) RETURN DISTINCT c.id } AS changeIds,
       COLLECT { MATCH (e:Evidence)-[:VERIFIES]->(k) WHERE e.commitSha IS NULL OR toLower(e.commitSha) = k.sha
                 RETURN e {.*Evidence, commitSha: k.sha} } AS evidence
""")

DEPLOYMENT = with_fields("""
MATCH (d:Deployment {id: $id})
RETURN d {.*Deployment,
          service: coalesce(COLLECT { MATCH (d)-[:TO]->(s:Service) RETURN s.name
                                      ORDER BY s.name }[0], d.service)} AS deployment,
       COLLECT { MATCH (d)-[:SHIPPED]->(:Commit)<-[:CONTAINS|MERGED_AS]-(c:Change) RETURN DISTINCT c.id } AS changeIds,
       COLLECT { MATCH (i:Incident)-[:CAUSED_BY]->(d) RETURN i {.*Incident} } AS incidents
""")

INCIDENT = with_fields("""
MATCH (i:Incident {id: $id})
RETURN i {.*Incident,
          service: coalesce(COLLECT { MATCH (i)-[:AFFECTS]->(s:Service) RETURN s.name
                                      ORDER BY s.name }[0], i.service)} AS incident,
       COLLECT { MATCH (p:Postmortem)-[:ANALYZES]->(i) RETURN p {.*Postmortem} } AS postmortems
""")

CHANGE_IDS = """
MATCH (c:Change) WHERE $repo IS NULL OR c.repo = $repo
RETURN c.id AS id ORDER BY c.id SKIP $skip LIMIT $limit
"""

# Every node and relationship with its properties, for equality checks (tests, `rebuild`). Keys
# identify endpoints, so two graphs built in different orders compare equal.
SNAPSHOT_NODES = (
    "MATCH (n) WHERE any(l IN labels(n) WHERE l IN $labels) RETURN labels(n) AS labels, properties(n) AS props"
)
SNAPSHOT_EDGES = """
MATCH (a)-[r]->(b) WHERE any(l IN labels(a) WHERE l IN $labels) AND any(l IN labels(b) WHERE l IN $labels)
RETURN type(r) AS type, labels(a) AS fromLabels, properties(a) AS from, labels(b) AS toLabels, properties(b) AS to,
       properties(r) AS props
"""
