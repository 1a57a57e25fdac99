import { Transform } from 'class-transformer';
import { IsInt, IsString, IsUrl, Matches, Max, Min } from 'class-validator';
import { toInt } from '@hospital/platform';

/**
 * The PACS's DICOM archive (Orthanc, with its DICOMweb and ModalityWorklists plugins): where its REST and
 * DICOMweb API answer, the folder its worklist plugin serves `.wl` files from, the modality AE title
 * imaging orders are scheduled on, and how often the change feed is polled for stored studies.
 */
export class ImagingEnvironment {
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  ORTHANC_URL: string = 'http://127.0.0.1:8042';
  /** The ModalityWorklists plugin's `Database` folder (the PACS writes `<accession>.wl` there). */
  @IsString() @Matches(/^[^\0]{1,1024}$/) ORTHANC_WORKLIST_DIR: string = '.hospital/orthanc/worklists';
  /** ScheduledStationAETitle of every worklist entry (DICOM AE: up to 16 characters, no backslash). */
  @IsString() @Matches(/^[A-Za-z0-9 _.-]{1,16}$/) SCHEDULED_STATION_AE_TITLE: string = 'MODALITY1';
  /** The studies poller reads the archive's change feed this often while nothing is new. */
  @Transform(toInt) @IsInt() @Min(50) @Max(600_000) ORTHANC_POLL_MS: number = 1_000;
  /** The longest the poller waits between attempts while the archive does not answer. */
  @Transform(toInt) @IsInt() @Min(100) @Max(600_000) ORTHANC_MAX_BACKOFF_MS: number = 10_000;
}
