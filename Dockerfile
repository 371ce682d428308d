# One image for every PyDialer process (web, worker, beat, telephony, ingest, aggregator, migrate);
# docker-compose.yml picks the command. Production uses real servers (DATABASE_URL, REDIS_URL, CLICKHOUSE_URL).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYDIALER_DATA_DIR=/var/lib/pydialer
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng sox \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/pydialer
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY core core
COPY app app
COPY dialer dialer
COPY telephony telephony
COPY media media
COPY analytics analytics
COPY sql sql
COPY assets assets
RUN useradd --system --home /var/lib/pydialer pydialer && mkdir -p /var/lib/pydialer && chown pydialer /var/lib/pydialer
USER pydialer
EXPOSE 8050
CMD ["gunicorn", "--bind", "0.0.0.0:8050", "--workers", "2", "--threads", "8", "app.wsgi:app"]
