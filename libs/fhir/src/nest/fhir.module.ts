import { DynamicModule, Module, type OnModuleInit, type Provider, Inject } from '@nestjs/common';
import { SearchParameterRegistry } from '../search/search-parameter-registry';
import { FhirResourceStore } from '../store/fhir-resource-store';
import { FhirValidator } from '../validation/fhir-validator';
import { FhirController } from './fhir.controller';
import { FHIR_MODULE_OPTIONS, type FhirModuleOptions } from './fhir-module-options';
import { FhirRestService } from './fhir-rest.service';
import { FHIR_WRITER } from './fhir-writer';

/**
 * A service's FHIR R4 interface at `/fhir`: CapabilityStatement, search, read, vread and history from
 * `FhirResourceStore` on the app's `Database`; create, update, delete and transaction through the
 * app's `FhirWriter`. Global, so the service's other modules can inject the same
 * `SearchParameterRegistry`, `FhirValidator` and `FhirResourceStore`.
 */
@Module({})
export class FhirModule implements OnModuleInit {
  constructor(
    @Inject(FhirValidator) private readonly validator: FhirValidator,
    @Inject(FHIR_MODULE_OPTIONS) private readonly options: FhirModuleOptions,
  ) {}

  /** The service's `/fhir` interface (imported once, by the service's root module). */
  static forRoot(options: FhirModuleOptions): DynamicModule {
    const providers: Provider[] = [
      { provide: FHIR_MODULE_OPTIONS, useValue: options },
      { provide: SearchParameterRegistry, useFactory: () => new SearchParameterRegistry(options.resources) },
      { provide: FhirValidator, useFactory: () => new FhirValidator() },
      {
        provide: FhirResourceStore,
        inject: [SearchParameterRegistry],
        useFactory: (registry: SearchParameterRegistry) => new FhirResourceStore(registry),
      },
      FhirRestService,
    ];
    const writer = options.writer;
    if (writer === undefined) providers.push({ provide: FHIR_WRITER, useValue: null });
    else if ('useExisting' in writer)
      providers.push({ provide: FHIR_WRITER, useExisting: writer.useExisting });
    else providers.push(writer, { provide: FHIR_WRITER, useExisting: writer });
    for (const type of [...Object.keys(options.writes ?? {})]) {
      if (options.resources[type] === undefined) {
        throw new Error(`FhirModule: writes names ${type}, which is not among the served resources`);
      }
    }
    return {
      module: FhirModule,
      global: true,
      imports: options.imports ?? [],
      controllers: [FhirController],
      providers,
      exports: [
        SearchParameterRegistry,
        FhirValidator,
        FhirResourceStore,
        FhirRestService,
        FHIR_MODULE_OPTIONS,
      ],
    };
  }

  /** Loads the R4 definitions of the served types at boot rather than on the first request. */
  onModuleInit(): void {
    this.validator.warmUp(Object.keys(this.options.resources));
  }
}
