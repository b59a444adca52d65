"""The GraphQL documents the GitHub collector sends (GitHub's public schema, api.github.com/graphql).

One `PullRequests` request brings a page of pull requests with everything the graph needs from them:
reviews (dismissed ones too), commits, changed paths, labels, body, author, head and merge SHAs, and
the checks and statuses of the head and merge commits (`statusCheckRollup`, which also names each
check run's suite). Nested lists longer than one page are finished with the small follow-up queries
below, for that pull request or commit only. Every document asks for `rateLimit`, so the budget is
known after each request.

Cost (GitHub's formula: one request per connection per parent, /100): a page of 50 pull requests is
1 + 50 × (labels, files, reviews, commits, last commit, head checks, merge checks) = 351 → 4 points.
"""

from __future__ import annotations

RATE_LIMIT = "rateLimit { cost remaining limit resetAt }"

ACTOR = "login __typename"

COMMIT = """
oid message authoredDate committedDate
author { name email user { login } }
committer { name email user { login } }
"""

CONTEXTS = """
pageInfo { hasNextPage endCursor }
nodes {
  __typename
  ... on CheckRun {
    databaseId name status conclusion startedAt completedAt detailsUrl url
    checkSuite { databaseId status conclusion createdAt updatedAt app { slug name } }
  }
  ... on StatusContext { context state targetUrl createdAt description }
}
"""

CHECKS = f"statusCheckRollup {{ contexts(first: 100) {{ {CONTEXTS} }} }}"

REVIEW = f"databaseId state submittedAt url author {{ {ACTOR} }} commit {{ oid }}"

PULL_REQUEST = f"""
databaseId number title body url state isDraft merged createdAt updatedAt mergedAt closedAt
additions deletions changedFiles
author {{ {ACTOR} }}
baseRefName headRefName headRefOid
mergeCommit {{ oid {CHECKS} }}
labels(first: 50) {{ nodes {{ name }} pageInfo {{ hasNextPage endCursor }} }}
files(first: 100) {{ nodes {{ path }} pageInfo {{ hasNextPage endCursor }} }}
reviews(first: 50) {{ nodes {{ {REVIEW} }} pageInfo {{ hasNextPage endCursor }} }}
commits(first: 100) {{ nodes {{ commit {{ {COMMIT} }} }} pageInfo {{ hasNextPage endCursor }} }}
lastCommit: commits(last: 1) {{ nodes {{ commit {{ oid {CHECKS} }} }} }}
"""

PULL_REQUESTS = f"""
query PullRequests($owner: String!, $name: String!, $first: Int!, $after: String) {{
  {RATE_LIMIT}
  repository(owner: $owner, name: $name) {{
    nameWithOwner url
    defaultBranchRef {{ name }}
    pullRequests(first: $first, after: $after, orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ {PULL_REQUEST} }}
    }}
  }}
}}
"""

# Follow-ups for a pull request whose list did not fit in the first page: (field, page size, selection).
MORE: dict[str, tuple[int, str]] = {
    "labels": (100, "name"),
    "files": (100, "path"),
    "reviews": (100, REVIEW),
    "commits": (100, f"commit {{ {COMMIT} }}"),
}


def more(field: str) -> str:
    """The query for the next page of one list of a pull request (`labels`, `files`, ...)."""
    size, selection = MORE[field]
    return f"""
query PullRequest{field.title()}($owner: String!, $name: String!, $number: Int!, $after: String) {{
  {RATE_LIMIT}
  repository(owner: $owner, name: $name) {{
    pullRequest(number: $number) {{
      list: {field}(first: {size}, after: $after) {{ nodes {{ {selection} }} pageInfo {{ hasNextPage endCursor }} }}
    }}
  }}
}}
"""


COMMIT_CHECKS = f"""
query CommitChecks($owner: String!, $name: String!, $oid: GitObjectID!, $after: String) {{
  {RATE_LIMIT}
  repository(owner: $owner, name: $name) {{
    object(oid: $oid) {{
      ... on Commit {{ statusCheckRollup {{ contexts(first: 100, after: $after) {{ {CONTEXTS} }} }} }}
    }}
  }}
}}
"""

DEPLOYMENT_STATUS = "state createdAt updatedAt description environmentUrl logUrl creator { login __typename }"

DEPLOYMENTS = f"""
query Deployments($owner: String!, $name: String!, $first: Int!, $after: String) {{
  {RATE_LIMIT}
  repository(owner: $owner, name: $name) {{
    deployments(first: $first, after: $after, orderBy: {{field: CREATED_AT, direction: DESC}}) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{
        databaseId environment originalEnvironment commitOid task payload description
        createdAt updatedAt state
        ref {{ name }}
        creator {{ {ACTOR} }}
        latestStatus {{ {DEPLOYMENT_STATUS} }}
        statuses(first: 20) {{ nodes {{ {DEPLOYMENT_STATUS} }} }}
      }}
    }}
  }}
}}
"""
