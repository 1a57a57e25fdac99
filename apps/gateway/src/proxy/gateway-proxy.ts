import { context, propagation } from '@opentelemetry/api';
import { Transform, TransformCallback } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Readable } from 'node:stream';
import { fromTrustedProxy } from '@hospital/fhir';
import { SERVICE_CONFIG } from '@hospital/platform';
import type { GatewayConfig } from '../config';
import { GatewayErrorCode, GatewayException } from '../gateway.exception';
import { Backends } from '../routing/backends';
import { backendRequestHeaders, clientResponseHeaders } from './headers';

/** Thrown inside a request body stream that grew past BODY_LIMIT_BYTES. */
class BodyTooLarge extends Error {}

/** Passes a stream through, failing it once more than `limit` bytes went by. */
class ByteLimit extends Transform {
  private seen = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) done(new BodyTooLarge());
    else done(null, chunk);
  }
}

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The error codes (undici's and the system's) of a backend that could not be reached at all. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);
const TIMED_OUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function errorCodes(error: unknown, depth = 0): string[] {
  if (typeof error !== 'object' || error === null || depth > 3) return [];
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  return [
    ...(typeof code === 'string' ? [code] : []),
    ...errorCodes(cause, depth + 1),
    ...(Array.isArray(errors) ? errors.flatMap((e) => errorCodes(e, depth + 1)) : []),
  ];
}

function contains(error: unknown, kind: new () => Error, depth = 0): boolean {
  if (error instanceof kind) return true;
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  return contains((error as { cause?: unknown }).cause, kind, depth + 1);
}

/** What went wrong with a backend call, as the gateway's answer (never the backend's address or a stack). */
export function backendFailure(error: unknown, backend: string): GatewayException {
  if (contains(error, BodyTooLarge))
    return new GatewayException(GatewayErrorCode.PayloadTooLarge, 'Request body exceeds the size limit');
  const codes = errorCodes(error);
  if (codes.some((code) => TIMED_OUT.has(code)))
    return new GatewayException(
      GatewayErrorCode.BackendTimeout,
      `The ${backend} service did not answer in time`,
      error,
    );
  if (codes.some((code) => UNREACHABLE.has(code)))
    return new GatewayException(
      GatewayErrorCode.BackendUnavailable,
      `The ${backend} service is unavailable`,
      error,
    );
  return new GatewayException(
    GatewayErrorCode.BadGateway,
    `The ${backend} service broke off its answer`,
    error,
  );
}

/** A path's segments decoded; refuses dot segments and malformed escapes before any backend sees them. */
export function checkedPath(originalUrl: string): string[] {
  const path = originalUrl.split('?')[0] ?? '';
  const segments = path.split('/').slice(1);
  for (const segment of segments) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw new GatewayException(GatewayErrorCode.InvalidRequest, 'The path has a malformed escape');
    }
    if (decoded === '.' || decoded === '..' || decoded.includes('/') || decoded.includes('\\'))
      throw new GatewayException(GatewayErrorCode.InvalidRequest, 'The path has a dot or slash segment');
  }
  return segments;
}

/**
 * Forwards one request to a backend over its pool and streams the answer back: the request body
 * streamed (or the bytes already read, for a Bundle), within BODY_LIMIT_BYTES; the FHIR headers
 * forwarded, hop-by-hop ones dropped, X-Forwarded-* stated so the backend's links name the gateway; the
 * backend's status, headers and body passed on as they come. A backend that cannot be reached is a 503,
 * one that does not answer in time a 504, one that breaks off a 502 — each an OperationOutcome.
 */
@Injectable()
export class GatewayProxy {
  private readonly limit: number;

  constructor(
    private readonly backends: Backends,
    @Inject(SERVICE_CONFIG) config: GatewayConfig,
  ) {
    this.limit = config.env.BODY_LIMIT_BYTES;
  }

  /** Throws 413 when the declared Content-Length is over the limit. */
  checkDeclaredLength(request: Request): void {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (Number.isFinite(declared) && declared > this.limit)
      throw new GatewayException(GatewayErrorCode.PayloadTooLarge, 'Request body exceeds the size limit');
  }

  /** Reads the whole request body (at most BODY_LIMIT_BYTES). */
  async readBody(request: Request): Promise<Buffer> {
    this.checkDeclaredLength(request);
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of request as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > this.limit) throw new BodyTooLarge();
        chunks.push(chunk);
      }
    } catch (error) {
      if (error instanceof BodyTooLarge)
        throw new GatewayException(GatewayErrorCode.PayloadTooLarge, 'Request body exceeds the size limit');
      throw new GatewayException(GatewayErrorCode.InvalidRequest, 'The request body could not be read');
    }
    return Buffer.concat(chunks);
  }

  /** `path`: the backend's path and query, the request's own by default. */
  async forward(
    backendName: string,
    request: Request,
    response: Response,
    body?: Buffer,
    path: string = request.originalUrl,
  ): Promise<void> {
    const backend = this.backends.get(backendName);
    const trusted = fromTrustedProxy(request);
    const headers = backendRequestHeaders(request.headers, {
      clientAddress: request.socket.remoteAddress,
      priorForwardedFor: trusted ? single(request.headers['x-forwarded-for']) : undefined,
      protocol: request.protocol,
      // Express reads X-Forwarded-Host into `host` (and X-Forwarded-Proto into `protocol`) from a trusted peer.
      host: request.host,
      prefix: trusted ? single(request.headers['x-forwarded-prefix']) : undefined,
    });
    // The backend's spans join this request's trace (the gateway's server span is the active one).
    propagation.inject(context.active(), headers);
    let payload: Buffer | Readable | null = null;
    if (body !== undefined) {
      payload = body;
      headers['content-length'] = String(body.length);
    } else if (!BODYLESS.has(request.method) && hasBody(request)) {
      this.checkDeclaredLength(request);
      payload = request.pipe(new ByteLimit(this.limit));
    } else {
      delete headers['content-length'];
    }
    // `stream` writes the answer straight into the client's response (no intermediate Readable): when the
    // client goes away, the destroyed response aborts the backend request too.
    try {
      await backend.pool.stream(
        { path, method: request.method, headers, body: payload },
        ({ statusCode, headers: answered }) => {
          response.statusCode = statusCode;
          for (const [name, value] of clientResponseHeaders(answered)) response.setHeader(name, value);
          return response;
        },
      );
    } catch (error) {
      // A client that went away has nobody left to answer.
      if (response.destroyed && !response.headersSent) return;
      if (!response.headersSent) throw backendFailure(error, backend.name);
      // The backend broke off mid-answer, or the client went away: the status line is gone, so the only
      // honest signal left is the closed connection.
      response.destroy();
    }
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function hasBody(request: Request): boolean {
  if (request.headers['transfer-encoding'] !== undefined) return true;
  const length = request.headers['content-length'];
  return length !== undefined && length !== '0';
}
