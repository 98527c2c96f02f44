# The stet node image, built with the same install script as the README.
#   docker build -t stet:dev .
# Build stage: every build dependency, the binary and the web client.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN scripts/build.sh && scripts/build-web.sh \
 && strip --strip-debug build/stet

# Runtime stage: only the shared libraries the binary loads.
FROM debian:12-slim
COPY scripts/install-deps.sh /tmp/
RUN /tmp/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
 && useradd --system --uid 10001 --user-group --home-dir /data --create-home stet
COPY --from=build /src/build/stet /usr/bin/stet
COPY --from=build /src/web/dist /usr/share/stet/web
USER 10001:10001
WORKDIR /data
# 8080: HTTP, WebSocket (/ws), REST (/api), web client; 9090: /metrics, /healthz, /readyz.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/bin/stet"]
# Without flags: a single node on embedded SQLite in /data (mount a volume there).
CMD ["serve", "--listen", "0.0.0.0:8080", "--metrics-listen", "0.0.0.0:9090", "--data", "/data", \
     "--web-root", "/usr/share/stet/web"]
