// The workflows' requests as the demo's scenario driver, the benches and the Docker replica trials send
// them: a ward dispense, a booking, a multidisciplinary team and a treatment plan. Synthetic data only.

const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const DICOM = 'http://dicom.nema.org/resources/ontology/DCM';
/** The extension naming the consult slot a plan's appointment activity takes. */
const SLOT_EXTENSION = 'urn:hospital:care-plans:slot';

/** A dispense of `quantity` units of `drug` (RxNorm) at a ward, handed over now. */
export function wardDispense(drug: string, location: string, patient: string, quantity: number): object {
  return {
    resourceType: 'MedicationDispense',
    status: 'completed',
    medicationCodeableConcept: { coding: [{ system: RXNORM, code: drug }] },
    subject: { reference: `Patient/${patient}` },
    location: { reference: `Location/${location}` },
    quantity: { value: quantity, unit: 'tablet' },
    whenHandedOver: new Date().toISOString(),
  };
}

/** A booking of `slot` for `patient` with `practitioner` (`POST /fhir/Appointment` at appointments). */
export function appointmentBooking(
  slot: { slotId: string; start: string; end: string },
  patient: string,
  practitioner: string,
): object {
  return {
    resourceType: 'Appointment',
    status: 'booked',
    slot: [{ reference: `Slot/${slot.slotId}` }],
    start: slot.start,
    end: slot.end,
    participant: [
      { actor: { reference: `Patient/${patient}` }, status: 'accepted' },
      { actor: { reference: `Practitioner/${practitioner}` }, status: 'accepted' },
    ],
  };
}

/** The demo's three consultants as the care team of `patient`'s treatment plans. */
export function oncologyCareTeam(patient: string): object {
  return {
    resourceType: 'CareTeam',
    status: 'active',
    name: 'Oncology multidisciplinary team',
    subject: { reference: `Patient/${patient}` },
    participant: ['prac-0001', 'prac-0002', 'prac-0003'].map((id) => ({
      member: { reference: `Practitioner/${id}` },
    })),
  };
}

export interface TreatmentPlanSpec {
  patient: string;
  careTeamId: string;
  /** The consultant, and the free slot of theirs the plan books. */
  practitioner: string;
  slotId: string;
  /** The imaging examination's modality (CT, MR, US) and day (YYYY-MM-DD). */
  modality: string;
  day: string;
  /** The regimen's drug (RxNorm), one unit from the main pharmacy. */
  drug: string;
}

/**
 * A draft treatment plan for care-plans (`POST /fhir/CarePlan?_mode=…`): a consult in a slot, an imaging
 * examination on a day, a regimen from the main pharmacy — three reservations at three services.
 */
export function treatmentPlan(spec: TreatmentPlanSpec): object {
  return {
    resourceType: 'CarePlan',
    status: 'draft',
    intent: 'plan',
    title: 'Multidisciplinary treatment plan',
    subject: { reference: `Patient/${spec.patient}` },
    careTeam: [{ reference: `CareTeam/${spec.careTeamId}` }],
    activity: [
      {
        detail: {
          kind: 'Appointment',
          status: 'scheduled',
          performer: [{ reference: `Practitioner/${spec.practitioner}` }],
          extension: [{ url: SLOT_EXTENSION, valueReference: { reference: `Slot/${spec.slotId}` } }],
        },
      },
      {
        detail: {
          kind: 'ServiceRequest',
          status: 'scheduled',
          code: { coding: [{ system: DICOM, code: spec.modality }] },
          scheduledPeriod: { start: spec.day },
        },
      },
      {
        detail: {
          kind: 'MedicationRequest',
          status: 'scheduled',
          productCodeableConcept: { coding: [{ system: RXNORM, code: spec.drug }] },
          location: { reference: 'Location/main-pharmacy' },
          quantity: { value: 1, unit: 'tablet' },
        },
      },
    ],
  };
}
