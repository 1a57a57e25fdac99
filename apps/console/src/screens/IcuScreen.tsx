import { ApiError, errorText, getJson, servicePath } from '../api';
import { Cell, columnsOf, GenericTable } from '../components/GenericTable';
import { Empty, ErrorLine, Forbidden, Toolbar } from '../components/Status';
import { displayValue, formatInstant } from '../format';
import { useLoader } from '../hooks';
import type { Bed, Bundle } from '../types';

const REFRESH_MS = 3_000;
/** SNOMED CT: "Royal College of Physicians NEWS2 (National Early Warning Score 2) total score". */
const NEWS2_CODE = '1104051000000101';
const OBSERVATIONS = `/fhir/Observation?code=${NEWS2_CODE}&_sort=-date&_count=50`;
/** Fields of a bed record that read as a score or a risk. */
const SCORE_FIELD = /news|score|risk|level|alert|escalat|trend/i;
const SHOWN = new Set(['bedId', 'patientId', 'spo2Scale', 'admittedAt']);

type Resource = Record<string, unknown>;

interface Board {
  beds: Bed[];
  observations: Resource[];
  /** Why the observations could not be read (they are optional on the board). */
  observationsError?: string;
}

async function load(signal: AbortSignal): Promise<Board> {
  const [beds, observations] = await Promise.all([
    getJson<Bed[]>(servicePath('icu-monitor', 'beds'), signal),
    getJson<Bundle<Resource>>(OBSERVATIONS, signal).then(
      (bundle) => ({ list: (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])) }),
      (error: unknown) => ({ list: [] as Resource[], error: errorText(error) }),
    ),
  ]);
  return {
    beds: Array.isArray(beds) ? beds : [],
    observations: observations.list,
    ...('error' in observations ? { observationsError: observations.error } : {}),
  };
}

const referenceOf = (resource: Resource): string | undefined => {
  const subject = resource.subject as { reference?: unknown } | undefined;
  return typeof subject?.reference === 'string' ? subject.reference : undefined;
};

/** The value of an Observation as text: a quantity, an integer, a code or a string. */
function valueOf(resource: Resource): string {
  const quantity = resource.valueQuantity as { value?: unknown; unit?: unknown } | undefined;
  if (quantity?.value !== undefined)
    return `${displayValue(quantity.value)}${quantity.unit ? ` ${displayValue(quantity.unit)}` : ''}`;
  if (resource.valueInteger !== undefined) return displayValue(resource.valueInteger);
  const concept = resource.valueCodeableConcept as
    { text?: unknown; coding?: { display?: unknown; code?: unknown }[] } | undefined;
  if (concept) return displayValue(concept.text ?? concept.coding?.[0]?.display ?? concept.coding?.[0]?.code);
  return displayValue(resource.valueString);
}

function interpretationOf(resource: Resource): string | undefined {
  const list = resource.interpretation as
    { text?: unknown; coding?: { display?: unknown; code?: unknown }[] }[] | undefined;
  const first = list?.[0];
  if (!first) return undefined;
  return displayValue(first.text ?? first.coding?.[0]?.display ?? first.coding?.[0]?.code);
}

/** The risk band for a card's colour: a risk/level field when there is one, else NEWS2 thresholds. */
function riskOf(fields: [string, unknown][], score?: number): 'high' | 'medium' | 'low' | undefined {
  for (const [, v] of fields.filter(([k]) => /risk|level/i.test(k))) {
    const text = displayValue(v).toLowerCase();
    if (/high|red|emergen/.test(text)) return 'high';
    if (/medium|amber|urgent/.test(text)) return 'medium';
    if (/low|green/.test(text)) return 'low';
  }
  if (score === undefined || Number.isNaN(score)) return undefined;
  return score >= 7 ? 'high' : score >= 5 ? 'medium' : 'low';
}

/** The unit's beds as cards with the patient and any score, and the latest NEWS2 observations. */
export function IcuScreen() {
  const loaded = useLoader(load, 'icu', REFRESH_MS);
  const board = loaded.data;
  const forbidden = loaded.error instanceof ApiError && loaded.error.forbidden;
  const latest = new Map<string, Resource>();
  for (const o of board?.observations ?? []) {
    const ref = referenceOf(o);
    if (ref && !latest.has(ref)) latest.set(ref, o);
  }

  return (
    <section data-testid="icu">
      <Toolbar title="ICU board" loading={loaded.loading} at={loaded.at}>
        <span className="muted small">refreshes every 3 s</span>
      </Toolbar>
      {forbidden ? <Forbidden /> : <ErrorLine error={loaded.error} />}
      {board ? (
        <>
          <div className="board" data-testid="icu-board">
            {board.beds.map((bed) => (
              <BedCard
                key={bed.bedId}
                bed={bed}
                observation={bed.patientId ? latest.get(`Patient/${bed.patientId}`) : undefined}
              />
            ))}
          </div>
          {board.beds.length === 0 ? <Empty>No beds.</Empty> : null}
          <h3>NEWS2 observations</h3>
          {board.observationsError ? (
            <p className="warnings small" data-testid="observations-error">
              Observations: {board.observationsError}
            </p>
          ) : board.observations.length === 0 ? (
            <Empty>No NEWS2 observations.</Empty>
          ) : (
            <Observations list={board.observations} />
          )}
        </>
      ) : null}
    </section>
  );
}

function BedCard({ bed, observation }: { bed: Bed; observation?: Resource }) {
  const extra = Object.entries(bed).filter(([k]) => !SHOWN.has(k));
  const scores = extra.filter(([k]) => SCORE_FIELD.test(k));
  const others = extra.filter(([k]) => !SCORE_FIELD.test(k));
  const observed = observation ? valueOf(observation) : undefined;
  const scoreField = scores.find(([k]) => /news|score/i.test(k))?.[1];
  const score = Number(
    typeof scoreField === 'number' || typeof scoreField === 'string' ? scoreField : observed?.split(' ')[0],
  );
  const risk = bed.patientId ? riskOf(scores, score) : undefined;

  return (
    <article
      className={`bed-card${bed.patientId ? '' : ' empty-bed'}${risk ? ` risk-${risk}` : ''}`}
      data-testid="bed-card"
      data-bed={bed.bedId}
    >
      <header>
        <strong>{bed.bedId}</strong>
        {risk ? <span className={`tag risk-tag-${risk}`}>{risk}</span> : null}
      </header>
      {bed.patientId ? (
        <dl>
          <dt>patient</dt>
          <dd className="mono" data-testid="bed-patient">
            {bed.patientId}
          </dd>
          {bed.spo2Scale !== undefined && bed.spo2Scale !== null ? (
            <>
              <dt>SpO2 scale</dt>
              <dd>{displayValue(bed.spo2Scale)}</dd>
            </>
          ) : null}
          {bed.admittedAt ? (
            <>
              <dt>admitted</dt>
              <dd>{formatInstant(bed.admittedAt)}</dd>
            </>
          ) : null}
          {[...scores, ...others].map(([k, v]) => (
            <FieldRow key={k} name={k} value={v} />
          ))}
          {observation ? (
            <>
              <dt>NEWS2</dt>
              <dd data-testid="bed-news2">
                <strong>{observed}</strong>
                {interpretationOf(observation) ? ` · ${interpretationOf(observation)}` : ''}
                <span className="muted small">
                  {' '}
                  {formatInstant(observation.effectiveDateTime ?? observation.issued)}
                </span>
              </dd>
            </>
          ) : null}
        </dl>
      ) : (
        <p className="muted">empty</p>
      )}
    </article>
  );
}

function FieldRow({ name, value }: { name: string; value: unknown }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>
        <Cell value={value} />
      </dd>
    </>
  );
}

function Observations({ list }: { list: Resource[] }) {
  const rows = list.map((o) => ({
    date: o.effectiveDateTime ?? o.issued,
    patient: referenceOf(o),
    value: valueOf(o),
    interpretation: interpretationOf(o),
    status: o.status,
    id: o.id,
  }));
  return (
    <GenericTable
      testId="observations-table"
      rowTestId="observation-row"
      rows={rows}
      columns={columnsOf(rows)}
    />
  );
}
