# zabkit: the server and the testbed in one image. Toxiproxy runs in its own container
# (ghcr.io/shopify/toxiproxy:2.12.0, see docker-compose.yml) and is reached by URL.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /zabkit
COPY package.json package-lock.json tsconfig.json ./
COPY cli ./cli
COPY src ./src
COPY cluster ./cluster
COPY faults ./faults
COPY jepsen-style ./jepsen-style
COPY bench ./bench
RUN npm ci --no-audit --no-fund && npm prune --omit=dev
ENV PATH="/zabkit/node_modules/.bin:${PATH}"
ENTRYPOINT ["node", "/zabkit/dist/cli/main.js"]
CMD ["--help"]
