"""The GraphQL cost limit: what an operation may make the server do, estimated before it runs.

Depth and alias limits alone let through 20 aliases of `changes(first: 500) { commits { changes { … } } }`,
which reads the graph once per commit of every change, twenty times over. The estimate, per operation
(every alias and fragment counted where it is used):

- every object the answer may hold counts 1; a list holds its `first` (a variable counts as the most
  `first` allows) or, without one, LIST_SIZE objects;
- every field that reads the graph again (a resolver: Commit.changes, Deployment.incidents, …) counts
  READ per object it is asked on; a few heavy ones count more (FIELD_COST: metrics computes over a
  whole window);
- scalars are free.

Operations over MAX_COST are refused before anything runs, with the estimate and the limit.
(No maintained cost-analysis package exists for graphql-core; this is one validation rule.)
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)

MAX_COST = 50_000
LIST_SIZE = 10  # objects assumed in a list that has no `first`
MAX_PAGE = 500  # the largest `first` a page allows (api.schema checks it), what a `first: $variable` counts as
READ = 10
FIELD_COST = {("Query", "metrics"): 10_000, ("Incident", "suspects"): 200, ("Incident", "traceNotes"): 200}
COST_RULE = (
    f"every object counts 1 (a list counts its `first`, else {LIST_SIZE}), every field that reads the graph "
    f"{READ}, metrics {FIELD_COST[('Query', 'metrics')]:,}"
)


def _unwrap(kind: Any) -> tuple[Any, bool]:
    """The named type under NonNull/List wrappers, and whether a list is among them."""
    is_list = False
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(kind, GraphQLList)
        kind = kind.of_type
    return kind, is_list


def _reads(field: GraphQLField) -> bool:
    """Whether the field has a resolver of its own (it reads the graph), rather than an attribute."""
    definition = (field.extensions or {}).get("strawberry-definition")
    return getattr(definition, "base_resolver", None) is not None


def _page(node: FieldNode, field: GraphQLField) -> int:
    """How many objects a list field may answer."""
    given = next((a.value for a in node.arguments or () if a.name.value == "first"), None)
    if isinstance(given, IntValueNode):  # beyond MAX_PAGE the resolver refuses it, saying so
        return min(max(int(given.value), 0), MAX_PAGE)
    if isinstance(given, VariableNode):
        return MAX_PAGE
    default = field.args["first"].default_value if "first" in field.args else None
    return default if isinstance(default, int) else LIST_SIZE


class CostLimit(ValidationRule):
    """Refuse an operation whose estimated cost (see the module docstring) is over MAX_COST."""

    def __init__(self, context: Any):
        super().__init__(context)
        # Cost of one use of each fragment: the estimate is linear in the objects above it, so a fragment
        # spread many times (or spreading others many times) is walked once.
        self._fragments: dict[str, int] = {}

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        root = self.context.schema.get_root_type(node.operation)
        if root is None:
            return
        cost = self._cost(node.selection_set, root, ())
        if cost > MAX_COST:
            self.report_error(
                GraphQLError(
                    f"query cost {cost:,} is over the limit of {MAX_COST:,} ({COST_RULE}): "
                    "ask for fewer fields, smaller pages or fewer aliases",
                    node,
                )
            )

    def _cost(self, selections: SelectionSetNode | None, parent: GraphQLNamedType, seen: tuple[str, ...]) -> int:
        """The cost of a selection set asked once on one `parent` object."""
        if selections is None:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                kind = self.context.schema.get_type(condition.name.value) if condition else parent
                total += self._cost(selection.selection_set, kind or parent, seen)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, parent, seen)
        return total

    def _fragment(self, name: str, parent: GraphQLNamedType, seen: tuple[str, ...]) -> int:
        fragment = self.context.get_fragment(name)
        if fragment is None or name in seen:  # unknown or cyclic: other rules report those
            return 0
        if name not in self._fragments:
            kind = self.context.schema.get_type(fragment.type_condition.name.value)
            self._fragments[name] = self._cost(fragment.selection_set, kind or parent, (*seen, name))
        return self._fragments[name]

    def _field(self, node: FieldNode, parent: GraphQLNamedType, seen: tuple[str, ...]) -> int:
        field = (getattr(parent, "fields", None) or {}).get(node.name.value)
        if field is None:  # __typename, or a field other rules report as unknown
            return 0
        cost: int = FIELD_COST.get((parent.name, node.name.value), READ if _reads(field) else 0)
        kind, is_list = _unwrap(field.type)
        if not isinstance(kind, GraphQLObjectType):
            return cost
        objects = _page(node, field) if is_list else 1
        return cost + objects * (1 + self._cost(node.selection_set, kind, seen))
