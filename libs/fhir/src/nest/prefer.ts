import type { SearchHandling } from '../search/search-request';

/** What a client may ask for in FHIR's `Prefer` header (RFC 7240; FHIR http.html#prefer). */
export interface FhirPreferences {
  /** `handling=strict`: refuse unknown search parameters; `lenient` (the default): ignore and report them. */
  handling?: SearchHandling;
  /** `return=`: what a create or update answers with (the stored resource by default). */
  return?: 'minimal' | 'representation' | 'OperationOutcome';
}

const RETURN_VALUES: readonly string[] = ['minimal', 'representation', 'OperationOutcome'];
const HANDLING_VALUES: readonly string[] = ['strict', 'lenient'];

/**
 * The preferences of one or more `Prefer` headers. Preferences are hints (RFC 7240 §2): a value this
 * server does not know is left out, never an error. Several may come in one header, separated by commas
 * or semicolons (`return=minimal, handling=strict`), with optional quotes around the value.
 */
export function parsePrefer(header: string | readonly string[] | undefined): FhirPreferences {
  const preferences: FhirPreferences = {};
  const values = header === undefined ? [] : typeof header === 'string' ? [header] : header;
  for (const value of values) {
    for (const part of value.split(/[,;]/)) {
      const [rawName, ...rest] = part.split('=');
      const name = rawName.trim().toLowerCase();
      const setting = rest
        .join('=')
        .trim()
        .replace(/^"(.*)"$/, '$1');
      const known = (choices: readonly string[]) =>
        choices.find((c) => c.toLowerCase() === setting.toLowerCase());
      if (name === 'handling') {
        const handling = known(HANDLING_VALUES);
        if (handling !== undefined) preferences.handling = handling as SearchHandling;
      } else if (name === 'return') {
        const answer = known(RETURN_VALUES);
        if (answer !== undefined) preferences.return = answer as FhirPreferences['return'];
      }
    }
  }
  return preferences;
}
