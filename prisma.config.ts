import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';

// The JS engine with the pg adapter runs migrations without Prisma's native
// engines, which are downloaded from a server that is not always reachable.
export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  adapter: async () => new PrismaPg({ connectionString: process.env.DATABASE_URL ?? '' }),
  schema: 'prisma/schema',
  migrations: { path: 'prisma/migrations' },
});
