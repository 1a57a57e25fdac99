import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Response } from 'express';

/**
 * The operations console's own CSP: its scripts and styles from this origin only, its API calls to this
 * origin only, never framed. (Every other gateway answer keeps `default-src 'none'`.)
 */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Where the built console is: CONSOLE_DIR, else `dist/console` of the repository this file runs from. */
export function consoleDirectory(
  configured: string | undefined,
  from: string = __dirname,
): string | undefined {
  if (configured !== undefined && configured !== '') return configured;
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
  return join(dir, 'dist', 'console');
}

/**
 * Serves the console's static files at `/console/` (`/console` redirects there). The files hold no patient
 * data and need no token: the page asks for one and sends it on every API call. Returns whether a built
 * console was found.
 */
export function serveConsole(app: NestExpressApplication, directory: string | undefined): boolean {
  if (directory === undefined || !existsSync(join(directory, 'index.html'))) return false;
  app.useStaticAssets(directory, {
    prefix: '/console/',
    index: 'index.html',
    setHeaders: (response: Response, path: string) => {
      response.setHeader('Content-Security-Policy', CONSOLE_CSP);
      // Hashed asset names change with every build; the page itself is always fetched again.
      response.setHeader(
        'Cache-Control',
        path.includes(`${join('console', 'assets')}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
  return true;
}
