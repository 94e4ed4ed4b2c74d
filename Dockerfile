# Refuge: capture blocked sites into WARC files and replay them.
#   docker build -t refuge .
#   docker run -p 8080:8080 -v refuge-data:/data refuge
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Browser mode (`refuge add --browser`) drives Debian's Chromium; a Khmer font so its
# screenshots of Khmer pages show the text.
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-khmeros \
    && rm -rf /var/lib/apt/lists/*

# Only what the package needs to install (see .dockerignore); every dependency has a wheel.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install '.[browser]' && rm -rf /src

RUN useradd --system --create-home --home-dir /home/refuge --uid 10001 --user-group refuge \
    && mkdir -p /data && chown refuge:refuge /data

ENV REFUGE_DATA=/data \
    REFUGE_HOST=0.0.0.0 \
    REFUGE_ADMIN_HOST=0.0.0.0
VOLUME /data
EXPOSE 8080 8081
WORKDIR /home/refuge
USER refuge

CMD ["refuge", "run"]
