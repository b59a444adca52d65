"""Turn source payloads into nodes and edges and write them through graph/."""
