import { Inject, Injectable } from '@nestjs/common';
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import { FhirResourceStore } from '@hospital/fhir';
import { environmentOf, SERVICE_CONFIG, type ServiceConfig, type Session } from '@hospital/platform';
import {
  type ConsumerDefinition,
  type InboundMessage,
  type MessageHandler,
  parseMessagePayload,
  RejectedMessageError,
} from '@hospital/transactions';
import { ImagingEnvironment } from '../imaging.environment';
import { worklistFile } from './worklist-dataset';
import { worklistEntryOf } from './worklist-entry';
import { WORKLIST_EXCHANGE, WORKLIST_QUEUE, WorklistRequested } from './worklist-events';
import { WorklistFolder } from './worklist-folder';

interface OrderRow {
  service_request_id: string;
  patient_id: string;
  created_at: Date;
  completed_at: Date | null;
}

/** The worklist folder of the PACS's archive, from its configuration. */
export const worklistFolderProvider = {
  provide: WorklistFolder,
  inject: [SERVICE_CONFIG],
  useFactory: (config: ServiceConfig) =>
    new WorklistFolder(environmentOf(config, ImagingEnvironment).ORTHANC_WORKLIST_DIR),
};

/**
 * Turns an imaging order the PACS took into its modality worklist entry: the `<accession>.wl` file the
 * archive serves, built from the PACS's current copies of the order and the patient. Applied once per event
 * by the inbox; the file write is idempotent anyway. An order already completed gets no entry back.
 */
@Injectable()
export class WorklistRequestedHandler implements MessageHandler<Session> {
  private readonly station: string;

  constructor(
    @Inject(FhirResourceStore) private readonly store: FhirResourceStore,
    @Inject(WorklistFolder) private readonly folder: WorklistFolder,
    @Inject(SERVICE_CONFIG) config: ServiceConfig,
  ) {
    this.station = environmentOf(config, ImagingEnvironment).SCHEDULED_STATION_AE_TITLE;
  }

  async handle(tx: Session, message: InboundMessage): Promise<void> {
    const event = parseMessagePayload(WorklistRequested, message);
    const [row] = await tx.query<OrderRow>(
      `SELECT service_request_id, patient_id, created_at, completed_at
         FROM pacs_imaging_order WHERE accession_number = $1 AND service_request_id = $2`,
      [event.accessionNumber, event.serviceRequestId],
    );
    if (row === undefined) throw new RejectedMessageError('no imaging order under this accession number');
    if (row.completed_at !== null) return;
    const order = await this.store.read<ServiceRequest>(tx, 'ServiceRequest', row.service_request_id);
    const patient = await this.store.read<Patient>(tx, 'Patient', row.patient_id);
    const entry = worklistEntryOf(patient, order, this.station, new Date(row.created_at));
    await this.folder.write(event.accessionNumber, worklistFile(entry));
  }
}

/** The PACS's consumer of its own worklist events, for `MessagingModule.forRoot({ consumers })`. */
export const worklistConsumer: ConsumerDefinition = {
  queue: WORKLIST_QUEUE,
  bindings: [{ exchange: WORKLIST_EXCHANGE, routingKey: 'requested' }],
  handler: WorklistRequestedHandler,
};
