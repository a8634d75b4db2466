# syntax=docker/dockerfile:1
# Focal — multi-stage image on the current Node.js LTS.
# The build stage has network access, so the optional @tensorflow/tfjs-node
# (native TensorFlow, the fastest backend) installs here even though it cannot
# be downloaded on machines without access to storage.googleapis.com.

ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The dashboard (GET /ui) is bundled from ui/ with the typed client's sources.
COPY ui ./ui
COPY clients/typescript/src ./clients/typescript/src
COPY scripts/build-ui.mjs ./scripts/
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    FOCAL_DATA_DIR=/var/lib/focal \
    FOCAL_MODELS_DIR=/app/models
WORKDIR /app
RUN groupadd --system focal && useradd --system --gid focal --home-dir /app focal \
 && mkdir -p /var/lib/focal && chown focal:focal /var/lib/focal
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY models ./models
USER focal
VOLUME ["/var/lib/focal"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM from `docker stop` triggers the graceful shutdown (node is PID 1 and handles it).
CMD ["node", "dist/main.js"]
