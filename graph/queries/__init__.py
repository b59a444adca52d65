"""Every Cypher statement of tracegraph, one module per concern.

Builders interpolate only names from the closed vocabulary (graph.vocabulary); every value is a
$parameter.
"""

from graph.queries.core import *  # noqa: F403
