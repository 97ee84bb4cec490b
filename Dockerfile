# charlm in a container: a build stage that compiles and runs the test suite, then a slim runtime
# image with the binary and the corpus and model recipes. Packages come from scripts/packages.txt,
# the same list scripts/setup.sh installs (tests/packaging_test.sh checks that this stays so).
# Generic x86-64 code (no -march=native), so the image runs on any x86-64 CPU.
# The base images are build arguments so that a machine with no image registry can build FROM a local
# Debian image (scripts/container.sh makes one with debootstrap); a plain `docker build .` is unchanged.
ARG BASE=debian:bookworm
ARG RUNTIME_BASE=debian:bookworm-slim

FROM ${BASE} AS build
# The context has no .git (.dockerignore): `charlm --version` names the commit given here
# (scripts/container.sh passes it: --build-arg CHARLM_COMMIT=$(git rev-parse --short=12 HEAD)).
ARG CHARLM_COMMIT=unknown
COPY scripts/packages.txt /tmp/packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' -e 's/[[:space:]]//g' -e 's/\[test\]$//' /tmp/packages.txt | grep -v '^$' \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCHARLM_WERROR=ON \
 && cmake --build build -j"$(nproc)" \
 && (cd build && ctest --output-on-failure -j"$(nproc)")

FROM ${RUNTIME_BASE} AS runtime
# Runtime libraries only: the shared objects the binary links, plus what the corpus recipes use.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libdnnl2 libicu72 libboost-program-options1.74.0 libfmt9 libgomp1 python3 ca-certificates \
      rime-data-zyenpheng libcpp-httplib0.11 libssl3 zlib1g libbrotli1 libopenmpi3 openmpi-bin \
      libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libudev1 libopencc1.1 libmarisa0 libopencc-data \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/charlm /usr/local/bin/charlm
RUN mkdir -p /etc/bash_completion.d && charlm completion bash > /etc/bash_completion.d/charlm
COPY --from=build /src/corpora /opt/charlm/corpora
COPY --from=build /src/models /opt/charlm/models
RUN useradd --create-home --shell /usr/sbin/nologin charlm
USER charlm
WORKDIR /home/charlm
ENTRYPOINT ["charlm"]
CMD ["--help"]
