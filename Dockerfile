# The API and the worker, built once with `npm run build`; docker-compose.yml
# runs this image as the migrate job, two workers and two API processes.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# The client runs on Prisma's Wasm query compiler with the pg adapter: no native engines needed.
ENV PRISMA_QUERY_ENGINE_LIBRARY=/dev/null PRISMA_SCHEMA_ENGINE_BINARY=/dev/null PRISMA_SKIP_POSTINSTALL_GENERATE=1
COPY package.json package-lock.json .npmrc ./
RUN npm install --no-audit --no-fund
COPY . .
RUN node scripts/prisma.mjs generate && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production PRISMA_QUERY_ENGINE_LIBRARY=/dev/null PRISMA_SCHEMA_ENGINE_BINARY=/dev/null
COPY --from=build /app /app
USER node
EXPOSE 3000
CMD ["node", "dist/src/api/server.js"]
