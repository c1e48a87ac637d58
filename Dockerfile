# The openclaw gateway image, openclaw:local (docs/docker.md):
#
#   docker build -t openclaw:local -f Dockerfile .
#
# Build arguments:
#   RUST_IMAGE                    The builder. Default: an official rust: image. Without a
#                                 registry, or behind an HTTPS proxy cargo must trust, use the
#                                 image scripts/ensure-builder-image.sh prints.
#   OPENCLAW_DOCKER_APT_PACKAGES  Extra Debian packages for the runtime image, space-separated.
#   GIT_COMMIT                    Shown by `openclaw --version` (the context has no .git).
#
# Stage "build" makes a static (musl) binary. The dependencies are compiled in
# a layer of their own from Cargo.toml and Cargo.lock with placeholder sources,
# so a change under src/ or ui/ recompiles only the openclaw crate.
# Stage "runtime" is debian:bookworm-slim with tini as init, user node
# (uid 1000, HOME=/home/node) and the binary at /usr/local/bin/openclaw.
# Nothing else crosses over from the builder: no compiler, no CA bundle, and
# no docker CLI (the gateway speaks the Engine API itself).

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
# ring's C code for the musl target is compiled by musl-gcc (cc-rs reads
# TARGET_CC). The official images lack musl-tools and the musl standard
# library; a builder from ensure-builder-image.sh has both.
ENV TARGET_CC=musl-gcc CARGO_TERM_COLOR=never
RUN set -eu; \
    target="$(uname -m)-unknown-linux-musl"; \
    if ! command -v musl-gcc >/dev/null 2>&1; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends musl-tools; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$target/lib" ]; then rustup target add "$target"; fi
WORKDIR /src

# Dependencies only. Placeholders stand in for the library, the binary and every
# [[bin]], [[example]], [[test]] and [[bench]] target Cargo.toml names (cargo
# checks that their files exist); the fingerprints of the placeholder crate are
# removed afterwards so that the real sources are always compiled, whatever
# their timestamps. examples/ and tests/ never enter the image's context.
COPY Cargo.toml Cargo.lock build.rs ./
RUN set -eu; \
    target="$(uname -m)-unknown-linux-musl"; \
    mkdir -p src; \
    : > src/lib.rs; \
    echo 'fn main() {}' > src/main.rs; \
    awk -F'"' ' \
      function emit() { \
        if (kind == "") return; \
        if (path == "") path = (kind == "bin" ? "src/bin" : kind == "bench" ? "benches" : kind "s") "/" name ".rs"; \
        print path; kind = ""; \
      } \
      /^\[\[(bin|example|test|bench)\]\]/ { emit(); kind = substr($0, 3, index($0, "]]") - 3); name = ""; path = ""; next } \
      /^\[/ { emit(); next } \
      kind != "" && /^name *=/ { name = $2 } \
      kind != "" && /^path *=/ { path = $2 } \
      END { emit() }' Cargo.toml \
    | while read -r f; do mkdir -p "$(dirname "$f")"; [ -e "$f" ] || echo 'fn main() {}' > "$f"; done; \
    cargo build --release --locked --target "$target"; \
    rm -rf src target/"$target"/release/.fingerprint/openclaw-* target/"$target"/release/deps/openclaw-* \
      target/"$target"/release/deps/libopenclaw-* target/"$target"/release/openclaw*

COPY src ./src
COPY ui ./ui
ARG GIT_COMMIT=""
RUN set -eu; \
    target="$(uname -m)-unknown-linux-musl"; \
    GIT_COMMIT="$GIT_COMMIT" cargo build --release --locked --target "$target" --bin openclaw; \
    cp "target/$target/release/openclaw" /openclaw; \
    /openclaw --version

FROM ${RUNTIME_IMAGE} AS runtime
COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN set -eu; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    chmod 0755 /usr/local/bin/docker-entrypoint.sh; \
    groupadd --gid 1000 node; \
    useradd --uid 1000 --gid node --shell /bin/bash --create-home node; \
    install -d -o node -g node -m 0700 /home/node/.openclaw; \
    install -d -o node -g node -m 0755 /home/node/.openclaw/workspace

# Extra packages (OPENCLAW_DOCKER_APT_PACKAGES="ffmpeg build-essential"): baked
# into the image so they survive container re-creation.
ARG OPENCLAW_DOCKER_APT_PACKAGES=""
RUN set -eu; \
    if [ -n "$OPENCLAW_DOCKER_APT_PACKAGES" ]; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $OPENCLAW_DOCKER_APT_PACKAGES; \
      apt-get clean; \
      rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    fi

COPY --from=build /openclaw /usr/local/bin/openclaw
ENV HOME=/home/node
USER node
WORKDIR /home/node
EXPOSE 18789
# The gateway's own /healthz, asked by the binary (no curl in the image).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["openclaw", "gateway", "probe"]
# tini reaps and forwards signals; -s keeps that working under `docker run --init`
# or compose's `init: true`, where tini is not PID 1. The entrypoint script
# lets `docker run openclaw:local agent --message "hi"` mean `openclaw agent …`.
ENTRYPOINT ["tini", "-s", "--", "docker-entrypoint.sh"]
# Loopback inside the container: reachable only through `docker exec`. The
# compose file binds lan (with a token); so can `docker run … gateway --bind lan`.
CMD ["openclaw", "gateway", "--allow-unconfigured"]
