import { FhirExceptionFilter } from '@hospital/fhir';
import { runService } from '@hospital/platform';
import { referralInboxConfig } from './config';
import { ReferralInboxModule } from './referral-inbox.module';

runService(
  'referral-inbox',
  () => referralInboxConfig(),
  (config) => ReferralInboxModule.forRoot(config),
  {
    filters: [new FhirExceptionFilter()],
    description:
      'Referral inbox: the recommendations of completed telemedicine consults (Communication) at /fhir, searchable by recipient, subject and based-on.',
  },
);
