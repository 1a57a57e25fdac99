import { IsString, Matches } from 'class-validator';

/** The PACS's own exchange for its imaging workflow (namespaced like every exchange). */
export const WORKLIST_EXCHANGE = 'pacs.worklist';
/** Type of the event asking for an imaging order's worklist entry. */
export const WORKLIST_REQUESTED_TYPE = 'pacs.worklist-entry-requested';
/** The PACS's queue of those events. */
export const WORKLIST_QUEUE = 'pacs.worklist';

/** An imaging order the PACS took, whose worklist entry is to be written (ids only: no patient data). */
export class WorklistRequested {
  @IsString() @Matches(/^[A-Za-z0-9\-.]{1,64}$/) serviceRequestId!: string;
  @IsString() @Matches(/^A[0-9A-F]{15}$/) accessionNumber!: string;
}
