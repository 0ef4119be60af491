# One image for the web server and the inversion workers.
# CUDA comes with the torch wheel; the host needs only the NVIDIA driver and
# the NVIDIA Container Toolkit for the GPU workers.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 curl libopenblas0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
# dlib compiles against OpenBLAS (5x faster face descriptors); the compiler leaves with this layer.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libopenblas-dev \
 && pip install -r requirements.txt \
 && apt-get purge -y --auto-remove build-essential libopenblas-dev \
 && rm -rf /var/lib/apt/lists/*

COPY . .
RUN DEBUG=1 DATA_DIR=/tmp/build python manage.py collectstatic --no-input --verbosity 0 \
 && useradd --system --uid 10001 --home-dir /app app \
 && mkdir -p /data && chown app /data

USER app
ENV DATA_DIR=/data
EXPOSE 8000
# Workers, threads, timeout, access log and garbage-collector set-up: forensics/gunicorn_config.py.
CMD ["gunicorn", "-c", "python:forensics.gunicorn_config", "forensics.wsgi"]
