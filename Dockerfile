# The Crossview application image used by compose.yaml (API, projector, CLI).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY schemas schemas
COPY channels channels
COPY projections projections
COPY services services
RUN pip install --no-cache-dir .
USER nobody
CMD ["crossview", "--help"]
