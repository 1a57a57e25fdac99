import { ApiError, errorText, getJson, servicePath } from '../api';
import { Cell, columnsOf, GenericTable } from '../components/GenericTable';
import { Empty, ErrorLine, Forbidden, Toolbar } from '../components/Status';
import { displayValue, formatInstant } from '../format';
import { useLoader } from '../hooks';
import type { Bed, Bundle } from '../types';

const REFRESH_MS = 3_000;
/** The ICU monitor's NEWS2 scores (one RiskAssessment per scored round) and its open alerts (Flag). */
const ASSESSMENTS = '/fhir/RiskAssessment?_sort=-date&_count=100';
const ALERTS = '/fhir/Flag?status=active&_count=100';
const NEWS2_TOTAL = 'urn:hospital:icu:news2-total';
/** Fields of a bed record that read as a score or a risk. */
const SCORE_FIELD = /news|score|risk|level|alert|escalat|trend/i;
const SHOWN = new Set(['bedId', 'patientId', 'spo2Scale', 'admittedAt']);

type Resource = Record<string, unknown>;

interface Board {
  beds: Bed[];
  /** The newest NEWS2 scores first. */
  assessments: Resource[];
  alerts: Resource[];
  /** Why the scores or alerts could not be read (the beds show without them). */
  scoresError?: string;
}

/** The resources of `type` in a search Bundle (not the OperationOutcome a search may add). */
const resourcesOf = (bundle: Bundle<Resource>, type: string): Resource[] =>
  (bundle.entry ?? []).flatMap((e) => (e.resource?.resourceType === type ? [e.resource] : []));

async function load(signal: AbortSignal): Promise<Board> {
  const [beds, scores] = await Promise.all([
    getJson<Bed[]>(servicePath('icu-monitor', 'beds'), signal),
    Promise.all([
      getJson<Bundle<Resource>>(ASSESSMENTS, signal),
      getJson<Bundle<Resource>>(ALERTS, signal),
    ]).then(
      ([assessments, alerts]) => ({
        assessments: resourcesOf(assessments, 'RiskAssessment'),
        // `status` is not a search parameter of every store: open alerts are kept here as well.
        alerts: resourcesOf(alerts, 'Flag').filter((flag) => flag.status === 'active'),
      }),
      (error: unknown) => ({
        assessments: [] as Resource[],
        alerts: [] as Resource[],
        error: errorText(error),
      }),
    ),
  ]);
  return {
    beds: Array.isArray(beds) ? beds : [],
    assessments: scores.assessments,
    alerts: scores.alerts,
    ...('error' in scores ? { scoresError: scores.error } : {}),
  };
}

const referenceOf = (resource: Resource): string | undefined => {
  const subject = resource.subject as { reference?: unknown } | undefined;
  return typeof subject?.reference === 'string' ? subject.reference : undefined;
};

/** A RiskAssessment's NEWS2 total (its extension), or undefined. */
function totalOf(assessment: Resource): number | undefined {
  const extensions = assessment.extension as { url?: unknown; valueInteger?: unknown }[] | undefined;
  const total = extensions?.find((e) => e.url === NEWS2_TOTAL)?.valueInteger;
  return typeof total === 'number' ? total : undefined;
}

/** A RiskAssessment's risk band (`prediction.qualitativeRisk`): low, low-medium (3 in one), medium, high. */
function bandOf(assessment: Resource): string | undefined {
  const prediction = assessment.prediction as
    { qualitativeRisk?: { text?: unknown; coding?: { code?: unknown }[] } }[] | undefined;
  const risk = prediction?.[0]?.qualitativeRisk;
  const band = risk?.coding?.[0]?.code ?? risk?.text;
  return typeof band === 'string' ? band : undefined;
}

/** A Flag's text: its code's text or first display. */
function alertText(flag: Resource): string {
  const code = flag.code as { text?: unknown; coding?: { display?: unknown; code?: unknown }[] } | undefined;
  return displayValue(code?.text ?? code?.coding?.[0]?.display ?? code?.coding?.[0]?.code);
}

/** The risk band for a card's colour: the assessment's band, else a bed field's, else NEWS2 thresholds. */
function riskOf(
  band: string | undefined,
  fields: [string, unknown][],
  score?: number,
): 'high' | 'medium' | 'low' | undefined {
  for (const text of [
    band ?? '',
    ...fields.filter(([k]) => /risk|level/i.test(k)).map(([, v]) => displayValue(v)),
  ]) {
    const lower = text.toLowerCase();
    if (/high|red|emergen/.test(lower)) return 'high';
    if (/medium|amber|urgent/.test(lower)) return 'medium';
    if (/low|green/.test(lower)) return 'low';
  }
  if (score === undefined || Number.isNaN(score)) return undefined;
  return score >= 7 ? 'high' : score >= 5 ? 'medium' : 'low';
}

/** The unit's beds as cards with the patient, the latest NEWS2 score and open alerts; the open alerts below. */
export function IcuScreen() {
  const loaded = useLoader(load, 'icu', REFRESH_MS);
  const board = loaded.data;
  const forbidden = loaded.error instanceof ApiError && loaded.error.forbidden;
  const latest = new Map<string, Resource>();
  for (const assessment of board?.assessments ?? []) {
    const ref = referenceOf(assessment);
    if (ref && !latest.has(ref)) latest.set(ref, assessment);
  }
  const alertsOf = (ref: string) => (board?.alerts ?? []).filter((flag) => referenceOf(flag) === ref);

  return (
    <section data-testid="icu">
      <Toolbar title="ICU board" loading={loaded.loading} at={loaded.at}>
        <span className="muted small">refreshes every 3 s</span>
      </Toolbar>
      {forbidden ? <Forbidden /> : <ErrorLine error={loaded.error} />}
      {board ? (
        <>
          {board.scoresError ? (
            <p className="warnings small" data-testid="scores-error">
              NEWS2 scores and alerts: {board.scoresError}
            </p>
          ) : null}
          <div className="board" data-testid="icu-board">
            {board.beds.map((bed) => (
              <BedCard
                key={bed.bedId}
                bed={bed}
                assessment={bed.patientId ? latest.get(`Patient/${bed.patientId}`) : undefined}
                alerts={bed.patientId ? alertsOf(`Patient/${bed.patientId}`) : []}
              />
            ))}
          </div>
          {board.beds.length === 0 ? <Empty>No beds.</Empty> : null}
          <h3>Open alerts</h3>
          {board.alerts.length === 0 ? <Empty>No open alerts.</Empty> : <Alerts list={board.alerts} />}
        </>
      ) : null}
    </section>
  );
}

function BedCard({ bed, assessment, alerts }: { bed: Bed; assessment?: Resource; alerts: Resource[] }) {
  const extra = Object.entries(bed).filter(([k]) => !SHOWN.has(k));
  const scores = extra.filter(([k]) => SCORE_FIELD.test(k));
  const others = extra.filter(([k]) => !SCORE_FIELD.test(k));
  const total = assessment ? totalOf(assessment) : undefined;
  const band = assessment ? bandOf(assessment) : undefined;
  const risk = bed.patientId ? riskOf(band, scores, total) : undefined;

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
          {total !== undefined && assessment ? (
            <>
              <dt>NEWS2</dt>
              <dd data-testid="bed-news2">
                <strong>{total}</strong>
                {band ? ` · ${band}` : ''}
                <span className="muted small"> {formatInstant(assessment.occurrenceDateTime)}</span>
              </dd>
            </>
          ) : null}
          {alerts.length > 0 ? (
            <>
              <dt>alert</dt>
              <dd data-testid="bed-alert">{alertText(alerts[0])}</dd>
            </>
          ) : null}
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

function Alerts({ list }: { list: Resource[] }) {
  const rows = list.map((flag) => ({
    since: (flag.period as { start?: unknown } | undefined)?.start,
    patient: referenceOf(flag),
    alert: alertText(flag),
    status: flag.status,
  }));
  return <GenericTable testId="alerts-table" rowTestId="alert-row" rows={rows} columns={columnsOf(rows)} />;
}
