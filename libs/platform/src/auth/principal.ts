import type { Request } from 'express';

/**
 * The roles of the hospital's people (the demo issuer hands out one per token). Each maps to a set of
 * SMART scopes (`auth/roles.ts`); a token's own scopes narrow what its role allows, never widen it.
 */
export const ROLES = [
  'clinician',
  'nurse',
  'lab-technician',
  'radiologist',
  'pharmacist',
  'scheduler',
  'auditor',
  'administrator',
] as const;
export type Role = (typeof ROLES)[number];

/**
 * Who a request comes from, as its verified bearer token says: a person (a user token from the
 * hospital's identity provider, with a role and SMART scopes) or another service of the platform.
 */
export interface Principal {
  kind: 'user' | 'service';
  /** The user's subject (`sub`) or the calling service's name. */
  id: string;
  /** A user's display name when the token carries one (`name`); never a patient's. */
  name?: string;
  role?: Role;
  /** SMART v2 scopes the token grants (`user/Patient.rs`…), after its role's limits. */
  scopes: readonly string[];
  /** Set when the user invoked break-the-glass on this request: the stated reason. */
  breakTheGlass?: { reason: string };
}

/** A request the access guard let through (or refused): the principal it proved, when it proved one. */
export interface RequestWithPrincipal extends Request {
  principal?: Principal;
}
