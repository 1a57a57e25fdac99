// Three projects: fast unit specs beside the code, integration specs against the real services,
// and fault specs that kill processes (run serially, after the rest, by scripts/test.ts).
const { jestModuleNameMapper } = require('./tools/tsconfig-paths');

const swc = [
  '@swc/jest',
  {
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
  },
];

const common = {
  rootDir: __dirname,
  testEnvironment: 'node',
  // Nest 12, fhir-kit-client 2 and jose 6 ship ESM only; jest's CommonJS loader needs those packages compiled
  // like our own code. So does OpenTelemetry's OTLP exporter base, which loads `http` with a dynamic
  // `import()` that jest's loader refuses (compiled, it is a `require`).
  transform: { '^.+\\.(ts|js|mjs)$': swc },
  transformIgnorePatterns: [
    '/node_modules/(?!(@nestjs|fhir-kit-client|jose|@opentelemetry/otlp-exporter-base)/)',
  ],
  moduleFileExtensions: ['ts', 'js', 'json'],
  // The @hospital/* aliases, as tsconfig.json declares them.
  // fhir-kit-client exports only an `import` condition, which jest's CommonJS resolver does not match.
  moduleNameMapper: {
    ...jestModuleNameMapper(),
    '^fhir-kit-client$': '<rootDir>/node_modules/fhir-kit-client/dist/index.js',
  },
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/dist-nest/'],
  // Every service a spec boots needs SERVICE_AUTH_SECRET: one random secret per spec file.
  setupFiles: ['<rootDir>/libs/platform/src/testing/service-auth.setup.ts'],
};

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      // tools/: the repository's own checks (dependency rules, file sizes), which `npm test` runs too.
      testMatch: ['<rootDir>/{apps,libs}/*/src/**/*.spec.ts', '<rootDir>/tools/**/*.spec.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/{apps,libs}/*/test/**/*.int-spec.ts', '<rootDir>/tools/**/*.int-spec.ts'],
      slowTestThreshold: 30,
    },
    { ...common, displayName: 'faults', testMatch: ['<rootDir>/{apps,libs}/*/test/**/*.fault-spec.ts'] },
  ],
};
