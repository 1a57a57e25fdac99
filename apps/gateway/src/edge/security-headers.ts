import type { NextFunction, Request, Response } from 'express';
import type { CorsOptions } from '@nestjs/common/interfaces/external/cors-options.interface';
import type { GatewayEnvironment } from '../config';

/**
 * The security headers of every gateway answer: no MIME sniffing, no framing, no referrer, nothing
 * cached (answers carry patient data), a CSP that lets an API answer load nothing (the OpenAPI page at
 * /api/docs needs its scripts and keeps its own), and HSTS when the client came over TLS (directly, or as
 * a trusted proxy's X-Forwarded-Proto says).
 */
export function securityHeaders(request: Request, response: Response, next: NextFunction): void {
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cache-Control', 'no-store');
  if (!request.path.startsWith('/api/docs'))
    response.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  if (request.secure) response.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  next();
}

/** CORS for browser apps of the configured origins (CORS_ORIGINS); none when it is empty. */
export function gatewayCorsOptions(env: GatewayEnvironment): CorsOptions {
  const origins = env.CORS_ORIGINS.split(',')
    .map((origin) => origin.trim().replace(/\/+$/, ''))
    .filter((origin) => origin !== '');
  return {
    origin: origins.length === 0 ? false : origins,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: [
      'Authorization',
      'Content-Type',
      'Accept',
      'Prefer',
      'If-Match',
      'If-None-Match',
      'If-None-Exist',
      'X-Correlation-Id',
      'X-Break-The-Glass',
    ],
    exposedHeaders: [
      'ETag',
      'Location',
      'Content-Location',
      'Last-Modified',
      'Retry-After',
      'WWW-Authenticate',
    ],
    maxAge: 600,
  };
}
