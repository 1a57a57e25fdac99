/** `W/"<versionId>"`, the ETag of a resource version. */
export function weakETag(versionId: string): string {
  return `W/"${versionId}"`;
}

/**
 * The version named by an `If-Match` header (`W/"3"`, `"3"` or `3`), or undefined when the header is
 * absent. A header that names no version is returned as is, so it never matches and yields a 412.
 */
export function parseIfMatch(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  const match = /^\s*(?:W\/)?"([^"]*)"\s*$/.exec(value);
  return match !== null ? match[1] : value.trim();
}
