# storage-api as a container: built with the Swift toolchain, run on a slim Debian.
#   docker build -t storage-api .
# Configuration comes from the environment (see README or `storage-api --help`).

FROM swift:6.3-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libvips-dev && rm -rf /var/lib/apt/lists/*
# The manifest names the test targets too, so the whole tree is needed to build.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product storage-api --static-swift-stdlib \
    && mkdir -p /out \
    && cp "$(swift build -c release --show-bin-path)/storage-api" /out/ \
    && cp -R "$(swift build -c release --show-bin-path)"/*.resources /out/

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libxml2 tzdata libvips42 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/storage-api --create-home storage
COPY --from=build /out/ /usr/local/bin/
USER storage
WORKDIR /var/lib/storage-api
ENV HOST=0.0.0.0 PORT=5000 FILE_STORAGE_BACKEND_PATH=/var/lib/storage-api/storage
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/$PORT && printf 'GET /status HTTP/1.0\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/storage-api"]
CMD ["serve"]
