"""The MCP face of tracegraph: read-only tools a coding agent calls to check its own change before asking
for review (the official `mcp` SDK). `tracegraph mcp` serves them over stdio."""
