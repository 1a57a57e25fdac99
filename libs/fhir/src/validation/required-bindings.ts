import { tryGetDataType, type InternalTypeSchema } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { operationOutcome } from '../errors/fhir-exception';
import type { R4ValueSets, ValueSetCodes } from './value-sets';

/** What a property of a type holds, for the required-binding check. */
type Slot =
  | { kind: 'code'; codes: ValueSetCodes; valueSet: string }
  | { kind: 'type'; type: string }
  /** A resource (contained, a Bundle entry's): its own `resourceType` names its type. */
  | { kind: 'resource' };

const PRIMITIVE = /^[a-z]/;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks every `code` under a required binding against its value set (medplum's validator checks the
 * structure and the invariants, not the codes). It walks the resource's JSON along a per-type table
 * built once from the FHIR R4 definitions, so it costs a lookup per property present.
 */
export class RequiredBindings {
  private readonly slots = new Map<string, Map<string, Slot>>();

  constructor(private readonly valueSets: R4ValueSets) {}

  issues(resource: Record<string, unknown>): OperationOutcomeIssue[] {
    const issues: OperationOutcomeIssue[] = [];
    const type = String(resource.resourceType);
    this.visit(resource, type, () => type, issues);
    return issues;
  }

  /** `path` builds the location only for a code outside its value set. */
  private visit(
    value: Record<string, unknown>,
    type: string,
    path: () => string,
    issues: OperationOutcomeIssue[],
  ): void {
    const slots = this.slotsOf(type);
    for (const key in value) {
      const slot = slots.get(key);
      if (slot === undefined) continue;
      const child = value[key];
      const many = Array.isArray(child);
      const items: unknown[] = many ? child : [child];
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        const at = () => (many ? `${path()}.${key}[${i}]` : `${path()}.${key}`);
        if (slot.kind === 'code') {
          if (typeof item === 'string' && !slot.codes.has(item))
            issues.push(outsideValueSet(slot.valueSet, at()));
        } else if (isRecord(item)) {
          const itemType = slot.kind === 'type' ? slot.type : item.resourceType;
          if (typeof itemType === 'string') this.visit(item, itemType, at, issues);
        }
      }
    }
  }

  /** The properties of `type` worth visiting, by JSON key (a choice `value[x]` under each of its keys). */
  private slotsOf(type: string): Map<string, Slot> {
    let slots = this.slots.get(type);
    if (slots !== undefined) return slots;
    slots = new Map();
    this.slots.set(type, slots);
    const schema: InternalTypeSchema | undefined = tryGetDataType(type);
    for (const [name, element] of Object.entries(schema?.elements ?? {})) {
      const choice = name.endsWith('[x]');
      for (const { code } of element.type ?? []) {
        const key = choice ? name.slice(0, -3) + code.charAt(0).toUpperCase() + code.slice(1) : name;
        const slot = this.slotFor(code, element.binding);
        if (slot !== undefined) slots.set(key, slot);
      }
    }
    return slots;
  }

  private slotFor(
    code: string,
    binding: { strength?: string; valueSet?: string } | undefined,
  ): Slot | undefined {
    if (code === 'Resource') return { kind: 'resource' };
    if (!PRIMITIVE.test(code)) return { kind: 'type', type: code };
    if (code !== 'code' || binding?.strength !== 'required' || binding.valueSet === undefined)
      return undefined;
    const codes = this.valueSets.codes(binding.valueSet);
    return codes === undefined
      ? undefined
      : { kind: 'code', codes, valueSet: binding.valueSet.split('|')[0] ?? '' };
  }
}

function outsideValueSet(valueSet: string, path: string): OperationOutcomeIssue {
  const text = `Value is not in the required value set ${valueSet}`;
  return operationOutcome({ code: 'code-invalid', details: text, diagnostics: text, expression: [path] })
    .issue[0];
}
