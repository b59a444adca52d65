# The tracegraph API and worker. Neo4j comes from the official image (docker-compose.yml),
# so this image needs no Java.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY documents ./documents
COPY graph ./graph
COPY api ./api
COPY ingest ./ingest
COPY export ./export
COPY cli ./cli
COPY governance ./governance
COPY mcp_server ./mcp_server
COPY web ./web
COPY trust ./trust
COPY collect ./collect
RUN pip install --no-cache-dir -c requirements.lock . && useradd --create-home tracegraph
USER tracegraph
ENV TRACEGRAPH_HOME=/home/tracegraph/state
EXPOSE 8000
CMD ["tracegraph", "serve", "--host", "0.0.0.0", "--port", "8000"]
