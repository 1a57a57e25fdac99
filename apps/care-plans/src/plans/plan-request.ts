import type {
  CarePlan,
  CarePlanActivity,
  CarePlanActivityDetail,
  CodeableConcept,
  Extension,
  Reference,
} from '@medplum/fhirtypes';
import { codeIn, relativeId } from '../fhir/references';
import { PlanErrorCode, PlanException } from './plans.exception';

/** The extension of a consult activity's `detail` that names the appointments Slot it takes. */
export const SLOT_EXTENSION = 'urn:hospital:care-plans:slot';
/** DICOM modality codes (CT, MR, US…): an imaging activity's `detail.code`. */
export const DICOM_SYSTEM = 'http://dicom.nema.org/resources/ontology/DCM';
/** RxNorm: a regimen's `detail.productCodeableConcept`. */
export const RXNORM_SYSTEM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

/** The most consults one plan books. */
export const MAX_CONSULTS = 16;
/** Units one activity may reserve: the participants' own bound. */
export const MAX_UNITS = 10_000;

const MODALITY = /^[A-Z0-9]{1,16}$/;
const DAY = /^(\d{4}-\d{2}-\d{2})(T.*)?$/;
const DRUG_CODE = /^[A-Za-z0-9.-]{1,64}$/;
const LOCATION_ID = /^[a-z0-9-]{1,64}$/;

/** A consult: the practitioner who performs it and the slot it takes. */
export interface ConsultActivity {
  /** Position in `CarePlan.activity`. */
  activity: number;
  slotId: string;
  performerId: string;
}

/** The imaging activity: a modality on a day. */
export interface ImagingActivity {
  activity: number;
  modality: string;
  /** YYYY-MM-DD. */
  day: string;
}

/** The drug regimen: units of a drug taken from a stock location. */
export interface RegimenActivity {
  activity: number;
  drugCode: string;
  locationId: string;
  quantity: number;
}

/** What a CarePlan (valid FHIR R4) asks to book. */
export interface PlanRequest {
  patientId: string;
  careTeamId: string;
  consults: ConsultActivity[];
  imaging?: ImagingActivity;
  regimen?: RegimenActivity;
}

const refuse = (code: PlanErrorCode, message: string, expression: string): PlanException =>
  new PlanException(code, message, [expression]);

/**
 * Checks a CarePlan on its own and says what it books: status `draft` or `active` (the service manages
 * it from there); `subject` a `Patient/<id>`; one `careTeam` `CareTeam/<id>`; at least one activity, each
 * with a `detail` of kind `Appointment` (a consult: one performer `Practitioner/<id>` and the slot named
 * by the `urn:hospital:care-plans:slot` extension, `Slot/<id>`), `ServiceRequest` (the one imaging
 * activity: a DICOM modality in `code` and the day in `scheduledPeriod.start`) or `MedicationRequest` (the
 * one regimen: an RxNorm drug in `productCodeableConcept`, `location` `Location/<id>` and a whole
 * `quantity` from 1 to 10000). A PlanException (400) names the element otherwise. Whether the care team,
 * the slot, the modality's day and the drug's stock exist is for the service to ask.
 */
export function planRequestOf(plan: CarePlan): PlanRequest {
  if (plan.status !== 'draft' && plan.status !== 'active') {
    throw refuse(
      PlanErrorCode.UnsupportedStatus,
      'A CarePlan is created draft or active; the service sets its status from there',
      'CarePlan.status',
    );
  }
  const patientId = relativeId(plan.subject, 'Patient');
  if (patientId === undefined) {
    throw refuse(PlanErrorCode.SubjectRequired, 'subject must reference Patient/<id>', 'CarePlan.subject');
  }
  const teams = plan.careTeam ?? [];
  const careTeamId = teams.length === 1 ? relativeId(teams[0], 'CareTeam') : undefined;
  if (careTeamId === undefined) {
    throw refuse(
      PlanErrorCode.CareTeamRequired,
      'careTeam must be exactly one reference CareTeam/<id>',
      'CarePlan.careTeam',
    );
  }
  const activities = plan.activity ?? [];
  if (activities.length === 0) {
    throw refuse(
      PlanErrorCode.ActivityRequired,
      'A CarePlan lists the activities it books',
      'CarePlan.activity',
    );
  }
  const request: PlanRequest = { patientId, careTeamId, consults: [] };
  activities.forEach((activity, index) => addActivity(request, activity, index));
  if (request.consults.length > MAX_CONSULTS) {
    throw refuse(
      PlanErrorCode.UnsupportedActivity,
      `A CarePlan books at most ${MAX_CONSULTS} consults`,
      'CarePlan.activity',
    );
  }
  const slots = new Set<string>();
  for (const consult of request.consults) {
    if (slots.has(consult.slotId)) {
      throw refuse(
        PlanErrorCode.DuplicateSlot,
        `Two consults take Slot/${consult.slotId}`,
        `CarePlan.activity[${consult.activity}].detail.extension`,
      );
    }
    slots.add(consult.slotId);
  }
  return request;
}

function addActivity(request: PlanRequest, activity: CarePlanActivity, index: number): void {
  const at = `CarePlan.activity[${index}]`;
  const detail = activity.detail;
  if (detail === undefined || activity.reference !== undefined) {
    throw refuse(
      PlanErrorCode.UnsupportedActivity,
      'Every activity is described inline by its detail, not by a reference',
      at,
    );
  }
  switch (detail.kind) {
    case 'Appointment':
      request.consults.push({
        activity: index,
        slotId: slotOf(detail.extension, at),
        performerId: performerOf(detail.performer, at),
      });
      return;
    case 'ServiceRequest':
      if (request.imaging !== undefined) throw second('imaging (ServiceRequest)', at);
      request.imaging = { activity: index, modality: modalityOf(detail.code, at), day: dayOf(detail, at) };
      return;
    case 'MedicationRequest':
      if (request.regimen !== undefined) throw second('regimen (MedicationRequest)', at);
      request.regimen = { activity: index, ...regimenOf(detail, at) };
      return;
    default:
      throw refuse(
        PlanErrorCode.UnsupportedActivity,
        'An activity is a consult (Appointment), the imaging (ServiceRequest) or the regimen (MedicationRequest)',
        `${at}.detail.kind`,
      );
  }
}

function second(what: string, at: string): PlanException {
  return refuse(PlanErrorCode.UnsupportedActivity, `A CarePlan has at most one ${what} activity`, at);
}

function slotOf(extensions: Extension[] | undefined, at: string): string {
  const named = (extensions ?? []).filter((e) => e.url === SLOT_EXTENSION);
  const slotId = named.length === 1 ? relativeId(named[0].valueReference, 'Slot') : undefined;
  if (slotId === undefined) {
    throw refuse(
      PlanErrorCode.ActivityIncomplete,
      `A consult names its slot: one extension ${SLOT_EXTENSION} with valueReference Slot/<id>`,
      `${at}.detail.extension`,
    );
  }
  return slotId;
}

function performerOf(performers: Reference[] | undefined, at: string): string {
  const list = performers ?? [];
  const performerId = list.length === 1 ? relativeId(list[0], 'Practitioner') : undefined;
  if (performerId === undefined) {
    throw refuse(
      PlanErrorCode.ActivityIncomplete,
      'A consult has exactly one performer, Practitioner/<id>',
      `${at}.detail.performer`,
    );
  }
  return performerId;
}

function modalityOf(code: CodeableConcept | undefined, at: string): string {
  const modality = codeIn(code, DICOM_SYSTEM);
  if (modality === undefined || !MODALITY.test(modality)) {
    throw refuse(
      PlanErrorCode.ActivityIncomplete,
      `The imaging activity names its modality in code (system ${DICOM_SYSTEM}, e.g. CT)`,
      `${at}.detail.code`,
    );
  }
  return modality;
}

function dayOf(detail: CarePlanActivityDetail, at: string): string {
  const day = DAY.exec(detail.scheduledPeriod?.start ?? '')?.[1];
  if (day === undefined) {
    throw refuse(
      PlanErrorCode.ActivityIncomplete,
      'The imaging activity names its day in scheduledPeriod.start (YYYY-MM-DD)',
      `${at}.detail.scheduledPeriod.start`,
    );
  }
  return day;
}

function regimenOf(detail: CarePlanActivityDetail, at: string): Omit<RegimenActivity, 'activity'> {
  const drugCode = codeIn(detail.productCodeableConcept, RXNORM_SYSTEM);
  if (drugCode === undefined || !DRUG_CODE.test(drugCode)) {
    throw refuse(
      PlanErrorCode.ActivityIncomplete,
      `The regimen names its drug in productCodeableConcept (system ${RXNORM_SYSTEM})`,
      `${at}.detail.productCodeableConcept`,
    );
  }
  const locationId = relativeId(detail.location, 'Location');
  if (locationId === undefined || !LOCATION_ID.test(locationId)) {
    throw refuse(
      PlanErrorCode.ActivityIncomplete,
      'The regimen names the stock location it takes from: Location/<id>',
      `${at}.detail.location`,
    );
  }
  const quantity = detail.quantity?.value;
  if (quantity === undefined) {
    throw refuse(PlanErrorCode.ActivityIncomplete, 'The regimen gives its quantity', `${at}.detail.quantity`);
  }
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > MAX_UNITS) {
    throw refuse(
      PlanErrorCode.ImpossibleQuantity,
      `The regimen's quantity is a whole number from 1 to ${MAX_UNITS}`,
      `${at}.detail.quantity.value`,
    );
  }
  return { drugCode, locationId, quantity };
}
