import { parseHl7DateTime } from '@medplum/core';

/** The HL7 versions the LIS speaks (MSH-12): v2.5.1, and v2.5, whose ORU^R01 is the same for our fields. */
export const HL7_VERSIONS = ['2.5.1', '2.5'] as const;
/** The version the LIS writes in MSH-12. */
export const HL7_VERSION = '2.5.1';

/** The LIS as sending / receiving application and facility (MSH-3/4, MSH-5/6 of what it receives). */
export const LIS_APPLICATION = 'HOSPITAL_LIS';
export const LIS_FACILITY = 'HOSPITAL';

const ESCAPES: readonly [string, string][] = [
  ['\\', '\\E\\'],
  ['|', '\\F\\'],
  ['^', '\\S\\'],
  ['&', '\\T\\'],
  ['~', '\\R\\'],
];

/** Escapes a text for one HL7 component (default delimiters), so a `^` in a name cannot split it. */
export function escapeHl7(text: string): string {
  let out = '';
  for (const char of text.replace(/[\r\n]+/g, ' ')) {
    out += ESCAPES.find(([plain]) => plain === char)?.[1] ?? char;
  }
  return out;
}

/** The plain text of an escaped HL7 component (default delimiters). */
export function unescapeHl7(text: string): string {
  return text.replace(/\\([EFSTR])\\/g, (_, code: string) => {
    const plain = ESCAPES.find(([, escaped]) => escaped === `\\${code}\\`);
    return plain?.[0] ?? '';
  });
}

/** An HL7 DTM in UTC, to the second: `YYYYMMDDHHMMSS+0000`. */
export function hl7Timestamp(date: Date = new Date()): string {
  return `${date.toISOString().slice(0, 19).replace(/[-:T]/g, '')}+0000`;
}

const DTM =
  /^\d{4}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])([01]\d|2[0-3])[0-5]\d([0-5]\d(\.\d{1,4})?)?([+-]\d{4})?$/;

/**
 * A DTM with at least minutes (what a result time needs) as an ISO instant, or undefined when `text` is
 * not one. A DTM without an offset is read as UTC.
 */
export function instantOf(text: string): string | undefined {
  if (!DTM.test(text)) return undefined;
  const iso = parseHl7DateTime(text);
  return iso !== undefined && !Number.isNaN(Date.parse(iso)) ? iso : undefined;
}
