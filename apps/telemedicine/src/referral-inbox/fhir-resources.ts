import type { SearchDeclaration } from '@hospital/fhir';

/**
 * What the referral inbox serves at /fhir: the recommendations of completed consults (`Communication`),
 * found by the site they were sent to (`recipient`), the patient, and the consult request (`based-on`).
 */
export const REFERRAL_INBOX_RESOURCES = {
  Communication: ['_id', 'recipient', 'subject', 'patient', 'based-on', 'status', 'sent'],
} as const satisfies SearchDeclaration;
