import type { OperationOutcome } from '@medplum/fhirtypes';

/** What fhir-kit-client throws for a non-2xx answer. */
interface ClientError {
  response: { status: number; data: unknown };
}

/**
 * The status and OperationOutcome of a refusal `call` (a fhir-kit-client request) must end in; throws if
 * the server did not refuse it.
 */
export async function refusal(
  call: Promise<unknown>,
): Promise<{ status: number; outcome: OperationOutcome }> {
  try {
    await call;
  } catch (error) {
    const { response } = error as ClientError;
    const data: unknown =
      typeof response.data === 'string' ? (JSON.parse(response.data) as unknown) : response.data;
    return { status: response.status, outcome: data as OperationOutcome };
  }
  throw new Error('expected the server to refuse the request');
}
