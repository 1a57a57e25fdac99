import {
  DynamicModule,
  Module,
  type ClassProvider,
  type ExistingProvider,
  type FactoryProvider,
  type ModuleMetadata,
  type ValueProvider,
} from '@nestjs/common';
import { CONSULT_COMMIT, type ConsultCommit } from './consult-commit.port';
import { ConsultCompletionController } from './consult-completion.controller';
import { ConsultCompletionService } from './consult-completion.service';
import { ConsultRequestRules } from './consult-request.rules';

/**
 * The slot of the consult completion's commit: how `CONSULT_COMMIT` is provided (any Nest provider recipe
 * without `provide`), and the modules its dependencies come from — e.g. a three-phase commit module and a
 * factory over its coordinator.
 */
export type ConsultCommitBinding = (
  | Omit<ClassProvider<ConsultCommit>, 'provide'>
  | Omit<FactoryProvider<ConsultCommit>, 'provide'>
  | Omit<ExistingProvider<ConsultCommit>, 'provide'>
  | Omit<ValueProvider<ConsultCommit>, 'provide'>
) & { imports?: ModuleMetadata['imports'] };

/**
 * Consults: the rules of consult requests and virtual sessions, and the completion operation that commits
 * the findings to the EMR, the consult record and the referring site's inbox through `CONSULT_COMMIT`.
 */
@Module({})
export class ConsultsModule {
  static forRoot(binding: ConsultCommitBinding): DynamicModule {
    const { imports = [], ...provider } = binding;
    return {
      module: ConsultsModule,
      imports,
      controllers: [ConsultCompletionController],
      providers: [{ provide: CONSULT_COMMIT, ...provider }, ConsultRequestRules, ConsultCompletionService],
      exports: [CONSULT_COMMIT, ConsultRequestRules, ConsultCompletionService],
    };
  }
}
