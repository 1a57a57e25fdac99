/**
 * The few members of the HTTP request and response the FHIR layer uses. Structural, so the lib does
 * not depend on a particular platform's typings; Express's objects satisfy them.
 */
export interface FhirHttpRequest {
  method: string;
  /** Path and query as received. */
  originalUrl: string;
  protocol: string;
  headers: Record<string, string | string[] | undefined>;
  query: unknown;
  body: unknown;
  get(name: string): string | undefined;
  /** Express's app settings (`trust proxy fn`) and the peer's address: whom forwarded headers come from. */
  app?: { get(setting: string): unknown };
  socket?: { remoteAddress?: string };
}

export interface FhirHttpResponse {
  headersSent: boolean;
  status(code: number): FhirHttpResponse;
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  send(body?: unknown): unknown;
  end(): unknown;
}

export const FHIR_JSON = 'application/fhir+json';
export const FHIR_JSON_UTF8 = 'application/fhir+json; charset=utf-8';
