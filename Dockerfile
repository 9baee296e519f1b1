# The hub for production: talks to a real MongoDB replica set (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY channels ./channels
COPY crm_core ./crm_core
COPY bots ./bots
COPY nlp ./nlp
RUN pip install . && useradd --system --uid 10001 hub
USER hub

ENV HUB_HOST=0.0.0.0 HUB_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz').status == 200 else 1)"
STOPSIGNAL SIGTERM
CMD ["python", "-m", "hub", "serve"]
