// The API reference for people: Swagger UI (from swagger-ui-dist) reading
// /openapi.json. Served while API_REFERENCE is on: by default in
// development, not in production.
import fs from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import { asPages } from './http';

const DIST = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>API reference · flowgate</title><link rel="stylesheet" href="/reference/swagger-ui.css"><link rel="icon" type="image/png" href="/reference/favicon-32x32.png"></head>
<body><main id="reference"></main><script src="/reference/swagger-ui-bundle.js"></script><script src="/reference/init.js"></script></body></html>
`;

// No validator badge: it would send the document to a third party.
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#reference', deepLinking: true, validatorUrl: null, defaultModelsExpandDepth: 0 });\n`;

/**
 * This page's own policy, on its routes only: the flows' pages run no
 * script, this one runs Swagger UI's, from this origin alone, and fetches
 * nothing but this origin's document.
 */
export const REFERENCE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

export function referencePages(): Router {
  const router = new Router();
  router.use(asPages);
  router.use(async (ctx, next) => {
    await next();
    ctx.set('Content-Security-Policy', REFERENCE_CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
  });
  router.get('/reference', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = PAGE;
  });
  router.get('/reference/init.js', (ctx) => {
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.body = INIT;
  });
  router.get('/reference/:asset', (ctx, next) => {
    const type = ASSETS[ctx.params.asset];
    if (!type) return next();
    ctx.type = type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = fs.createReadStream(path.join(DIST, ctx.params.asset));
  });
  return router;
}
