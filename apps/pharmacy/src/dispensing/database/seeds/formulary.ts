// The demo formulary: real drugs with their RxNorm clinical-drug (SCD) codes. Idempotent: every Medication
// is an upsert under a fixed id (`rxnorm-<code>`), written only when it differs.
import type { Medication } from '@medplum/fhirtypes';
import { FhirResourceStore, SearchParameterRegistry } from '@hospital/fhir';
import { Database, type SqlExecutor } from '@hospital/platform';
import { PHARMACY_RESOURCES, RXNORM_SYSTEM } from '../../fhir-resources';

const FORM_SYSTEM = 'http://snomed.info/sct';
const FORMS = {
  tablet: { code: '385055001', display: 'Tablet' },
  capsule: { code: '385049006', display: 'Capsule' },
  inhaler: { code: '420317006', display: 'Inhaler' },
  injection: { code: '385219001', display: 'Solution for injection' },
} as const;

export interface FormularyDrug {
  /** RxNorm SCD code. */
  code: string;
  display: string;
  form: keyof typeof FORMS;
}

/** The drugs the demo pharmacy stocks. */
export const FORMULARY_DRUGS: readonly FormularyDrug[] = [
  { code: '197361', display: 'amlodipine 5 MG Oral Tablet', form: 'tablet' },
  { code: '308135', display: 'amlodipine 10 MG Oral Tablet', form: 'tablet' },
  { code: '314076', display: 'lisinopril 10 MG Oral Tablet', form: 'tablet' },
  { code: '314077', display: 'lisinopril 20 MG Oral Tablet', form: 'tablet' },
  { code: '310798', display: 'hydrochlorothiazide 25 MG Oral Tablet', form: 'tablet' },
  { code: '866924', display: 'metoprolol tartrate 25 MG Oral Tablet', form: 'tablet' },
  {
    code: '866412',
    display: '24 HR metoprolol succinate 100 MG Extended Release Oral Tablet',
    form: 'tablet',
  },
  { code: '313988', display: 'furosemide 40 MG Oral Tablet', form: 'tablet' },
  { code: '197604', display: 'digoxin 0.125 MG Oral Tablet', form: 'tablet' },
  { code: '309362', display: 'clopidogrel 75 MG Oral Tablet', form: 'tablet' },
  { code: '243670', display: 'aspirin 81 MG Oral Tablet', form: 'tablet' },
  { code: '259255', display: 'atorvastatin 80 MG Oral Tablet', form: 'tablet' },
  { code: '314231', display: 'simvastatin 10 MG Oral Tablet', form: 'tablet' },
  { code: '312961', display: 'simvastatin 20 MG Oral Tablet', form: 'tablet' },
  { code: '861007', display: 'metformin hydrochloride 500 MG Oral Tablet', form: 'tablet' },
  {
    code: '860975',
    display: '24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet',
    form: 'tablet',
  },
  { code: '966222', display: 'levothyroxine sodium 0.075 MG Oral Tablet', form: 'tablet' },
  { code: '312617', display: 'prednisone 5 MG Oral Tablet', form: 'tablet' },
  { code: '313782', display: 'acetaminophen 325 MG Oral Tablet', form: 'tablet' },
  { code: '198440', display: 'acetaminophen 500 MG Oral Tablet', form: 'tablet' },
  { code: '310965', display: 'ibuprofen 200 MG Oral Tablet', form: 'tablet' },
  { code: '198014', display: 'naproxen 500 MG Oral Tablet', form: 'tablet' },
  {
    code: '1049221',
    display: 'acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet',
    form: 'tablet',
  },
  {
    code: '856987',
    display: 'acetaminophen 300 MG / hydrocodone bitartrate 5 MG Oral Tablet',
    form: 'tablet',
  },
  { code: '197591', display: 'diazepam 5 MG Oral Tablet', form: 'tablet' },
  { code: '308182', display: 'amoxicillin 250 MG Oral Capsule', form: 'capsule' },
  { code: '308192', display: 'amoxicillin 500 MG Oral Tablet', form: 'tablet' },
  {
    code: '562251',
    display: 'amoxicillin 250 MG / clavulanate 125 MG Oral Tablet',
    form: 'tablet',
  },
  { code: '834061', display: 'penicillin V potassium 250 MG Oral Tablet', form: 'tablet' },
  { code: '197517', display: 'clarithromycin 500 MG Oral Tablet', form: 'tablet' },
  { code: '1014676', display: 'cetirizine hydrochloride 5 MG Oral Tablet', form: 'tablet' },
  { code: '904419', display: 'alendronic acid 10 MG Oral Tablet', form: 'tablet' },
  { code: '310436', display: 'galantamine 4 MG Oral Tablet', form: 'tablet' },
  {
    code: '745679',
    display: '200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler',
    form: 'inhaler',
  },
  {
    code: '895994',
    display: '120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler',
    form: 'inhaler',
  },
  { code: '1665060', display: 'cefazolin 2000 MG Injection', form: 'injection' },
  {
    code: '1659149',
    display: 'piperacillin 4000 MG / tazobactam 500 MG Injection',
    form: 'injection',
  },
];

/** The fixed id of a formulary drug's Medication. */
export function medicationId(code: string): string {
  return `rxnorm-${code}`;
}

/** The Medication resources of the formulary. */
export function formularyMedications(): (Medication & { id: string })[] {
  return FORMULARY_DRUGS.map((drug) => ({
    resourceType: 'Medication',
    id: medicationId(drug.code),
    status: 'active',
    code: {
      coding: [{ system: RXNORM_SYSTEM, code: drug.code, display: drug.display }],
      text: drug.display,
    },
    form: { coding: [{ system: FORM_SYSTEM, ...FORMS[drug.form] }] },
  }));
}

/**
 * Writes the formulary into the dispensing part's database (`hospital_pharmacy`): one Medication per drug,
 * upserted under its fixed id. On a Database it runs in one local transaction. Returns how many it wrote.
 */
export async function seedFormulary(
  db: Database | SqlExecutor,
): Promise<{ medications: number; written: number }> {
  const store = new FhirResourceStore(new SearchParameterRegistry(PHARMACY_RESOURCES));
  const medications = formularyMedications();
  const write = async (exec: SqlExecutor) => {
    let written = 0;
    for (const medication of medications)
      if ((await store.upsertCopy(exec, medication)).changed) written += 1;
    return written;
  };
  const written = db instanceof Database ? await db.transaction(write) : await write(db);
  return { medications: medications.length, written };
}
