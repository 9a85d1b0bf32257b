# The project's own processes (ingest worker, API, init job, simulators) in one image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The broker's user with the eclipse-mosquitto image's ids (1883), so a password file
# written here (by `ioc stack init`) is owned by the user the broker runs as. The CAP
# signing folder exists in the image so its named volume starts owned by ioc, 0700.
RUN groupadd --system --gid 1883 mosquitto \
 && useradd --system --uid 1883 --gid 1883 --no-create-home --shell /usr/sbin/nologin mosquitto \
 && groupadd --system --gid 10001 ioc \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/ioc --create-home \
      --shell /usr/sbin/nologin ioc \
 && install -d -m 0700 -o ioc -g ioc /var/lib/ioc/cap-signing

# WeasyPrint (the leadership reports' PDF) lays text out with pango; DejaVu carries
# Vietnamese diacritics.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . /app
RUN pip install /app

# An installed package cannot find the repository's config by its own path: name it.
ENV IOC_RUN_DIR=/var/lib/ioc \
    IOC_ROUTES_FILE=/app/deploy/ingest/routes.yaml \
    IOC_BIND_HOST=0.0.0.0

USER ioc
CMD ["ioc", "--help"]
