import { escapeHl7, hl7Timestamp, instantOf, unescapeHl7 } from './hl7-text';

describe('HL7 text', () => {
  it('escapes every delimiter so a value cannot split a field, and reads it back', () => {
    const text = 'a|b^c&d~e\\f';
    expect(escapeHl7(text)).toBe('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f');
    expect(unescapeHl7(escapeHl7(text))).toBe(text);
    expect(escapeHl7('line\rbreak')).toBe('line break');
  });

  it('writes UTC timestamps and reads DTMs with or without offset as instants', () => {
    expect(hl7Timestamp(new Date('2026-03-01T10:20:30.456Z'))).toBe('20260301102030+0000');
    expect(instantOf('20260301102030+0100')).toBe('2026-03-01T09:20:30.000Z');
    expect(instantOf('202603011020')).toBe('2026-03-01T10:20:00.000Z');
    expect(instantOf('2026-03-01')).toBeUndefined();
    expect(instantOf('20261301102030')).toBeUndefined();
  });
});
