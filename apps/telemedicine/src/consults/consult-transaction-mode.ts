import type { FhirRequestSteering } from '@hospital/fhir';
import { ConsultsErrorCode, ConsultsException } from './consults.exception';

/**
 * How a consult completion commits, chosen per request: `3pc` (three-phase commit, the service's protocol
 * and the default), or one of the measurement modes `npm run bench -- 3pc` prices it against — `2pc`
 * (two-phase commit over the same participants) and `uncoordinated` (each part applied on its own, no
 * protocol, not atomic). The measurement modes run only where `CONSULT_MEASUREMENT_MODES=true`.
 */
export const CONSULT_TRANSACTION_MODES = ['3pc', '2pc', 'uncoordinated'] as const;
export type ConsultTransactionMode = (typeof CONSULT_TRANSACTION_MODES)[number];
/** The modes that exist for measurement only. */
export type MeasurementMode = Exclude<ConsultTransactionMode, '3pc'>;

/** The query parameter and the header that choose a completion's mode. */
export const MODE_PARAMETER = '_mode';
export const MODE_HEADER = 'x-transaction-mode';

function isConsultTransactionMode(value: string): value is ConsultTransactionMode {
  return (CONSULT_TRANSACTION_MODES as readonly string[]).includes(value);
}

/**
 * The mode a completion asks for: `?_mode=` or the `x-transaction-mode` header (both may be given if they
 * agree), else `3pc`. An unknown mode, two that disagree, or a measurement mode where `measurementModes` is
 * off is a 400.
 */
export function consultTransactionModeOf(
  request: FhirRequestSteering | undefined,
  measurementModes: boolean,
): ConsultTransactionMode {
  const asked = [request?.parameter(MODE_PARAMETER), request?.header(MODE_HEADER)].filter(
    (value): value is string => value !== undefined && value !== '',
  );
  for (const value of asked) {
    if (!isConsultTransactionMode(value)) {
      throw new ConsultsException(
        ConsultsErrorCode.UnknownMode,
        `The transaction mode is one of ${CONSULT_TRANSACTION_MODES.join(', ')} (${MODE_PARAMETER} or ${MODE_HEADER})`,
        [MODE_PARAMETER],
      );
    }
  }
  if (asked.length === 2 && asked[0] !== asked[1]) {
    throw new ConsultsException(
      ConsultsErrorCode.UnknownMode,
      `${MODE_PARAMETER} and ${MODE_HEADER} name different transaction modes`,
      [MODE_PARAMETER],
    );
  }
  const mode = (asked[0] as ConsultTransactionMode | undefined) ?? '3pc';
  if (mode !== '3pc' && !measurementModes) {
    throw new ConsultsException(
      ConsultsErrorCode.MeasurementModeDisabled,
      `Transaction mode ${mode} is for measurement only and is not enabled in this service (CONSULT_MEASUREMENT_MODES): consult completions commit by 3pc`,
      [MODE_PARAMETER],
    );
  }
  return mode;
}
