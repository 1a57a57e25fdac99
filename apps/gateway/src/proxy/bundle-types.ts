import { GatewayErrorCode, GatewayException } from '../gateway.exception';

const invalid = (message: string): GatewayException =>
  new GatewayException(GatewayErrorCode.InvalidRequest, message);

/**
 * The resource types of a transaction or batch Bundle's entries (each entry's resource type, else the first
 * segment of its request URL), which decide the backend that coordinates it. Throws 400 for a body that is
 * not JSON or not such a Bundle; everything else about it is the coordinating backend's to check.
 */
export function bundleEntryTypes(body: Buffer): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('Request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw invalid('POST [base] takes a transaction or batch Bundle');
  const bundle = parsed as { resourceType?: unknown; type?: unknown; entry?: unknown };
  if (bundle.resourceType !== 'Bundle' || (bundle.type !== 'transaction' && bundle.type !== 'batch'))
    throw invalid('POST [base] takes a transaction or batch Bundle');
  if (!Array.isArray(bundle.entry) || bundle.entry.length === 0) throw invalid('The Bundle has no entry');
  return bundle.entry.map((entry: unknown, index) => {
    const { resource, request } = (typeof entry === 'object' && entry !== null ? entry : {}) as {
      resource?: { resourceType?: unknown };
      request?: { url?: unknown };
    };
    if (typeof resource?.resourceType === 'string') return resource.resourceType;
    if (typeof request?.url === 'string') {
      const type = request.url.replace(/^\/+/, '').split(/[/?]/)[0];
      if (type !== undefined && type !== '') return type;
    }
    throw invalid(`Bundle.entry[${index}] names no resource type`);
  });
}
