import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FhirExceptionFilter } from '@hospital/fhir';
import { Database, DatabaseSettings, MigrationClass } from '@hospital/platform';
import { createTestDatabase } from '@hospital/platform/testing/test-database';
import type { INestApplication } from '@nestjs/common';
import { createServiceApp } from '@hospital/platform';
import { emrConfig } from '../../src/config';
import { migrations } from '../../src/database/migrations';
import { findService } from '../../../../scripts/services';
import { EmrModule } from '../../src/emr.module';
import { freePort } from '@hospital/platform/testing/waiting';
import { testAuthorizationFor } from '@hospital/platform/testing/access-token';

/** Each service's schema. */
const MIGRATIONS: Record<'emr' | 'lis' | 'pacs', MigrationClass[]> = {
  emr: migrations,
  // The participants' schemas as the scripts migrate them (an app imports no other app's code).
  lis: [...findService('lis').migrations],
  pacs: [...findService('pacs').migrations],
};
const ROOT = join(__dirname, '..', '..', '..', '..');

async function waitReady(url: string, child?: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`${url} exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/health/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms`);
}

export interface Department {
  url: string;
  db: Database;
  settings: DatabaseSettings;
  process?: ChildProcess;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A small hospital for integration specs: the EMR in-process (Nest app over real HTTP), the LIS and the
 * PACS as real processes from `dist/` (built by `npm test`), each on its own fresh database.
 */
export class TestHospital {
  emr!: { url: string; app: INestApplication; db: Database };
  lis!: Department;
  pacs!: Department;
  private readonly drops: (() => Promise<void>)[] = [];
  private readonly worklists = mkdtempSync(join(tmpdir(), 'hospital-worklists-'));

  static async start(env: Record<string, string> = {}): Promise<TestHospital> {
    const hospital = new TestHospital();
    await hospital.boot(env);
    return hospital;
  }

  private async boot(extraEnv: Record<string, string>): Promise<void> {
    const [emrPort, lisPort, pacsPort] = [await freePort(), await freePort(), await freePort()];
    const peers = {
      EMR_URL: `http://127.0.0.1:${emrPort}`,
      LIS_URL: `http://127.0.0.1:${lisPort}`,
      PACS_URL: `http://127.0.0.1:${pacsPort}`,
    };
    const common = {
      ...peers,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
      TX_RECOVERY_INTERVAL_MS: '500',
      // No archive here: the PACS's worklist goes to a folder of the spec's own, its poller to a closed port.
      ORTHANC_URL: 'http://127.0.0.1:9',
      ORTHANC_WORKLIST_DIR: this.worklists,
      ...extraEnv,
    };
    const database = async (name: keyof typeof MIGRATIONS) => {
      const { settings, drop } = await createTestDatabase(name, MIGRATIONS[name]);
      this.drops.push(drop);
      return settings;
    };
    this.lis = this.department('lis', lisPort, await database('lis'), common);
    this.pacs = this.department('pacs', pacsPort, await database('pacs'), common);
    const emrSettings = await database('emr');
    const config = emrConfig({
      ...process.env,
      ...common,
      PORT: String(emrPort),
      PGDATABASE: emrSettings.database,
    });
    const app = await createServiceApp(EmrModule.forRoot(config), config, {
      filters: [new FhirExceptionFilter()],
    });
    await app.listen(emrPort, '127.0.0.1');
    this.emr = { url: peers.EMR_URL, app, db: new Database(emrSettings, 'emr-test') };
    await Promise.all([this.lis.start(), this.pacs.start()]);
  }

  private department(
    name: 'lis' | 'pacs',
    port: number,
    settings: DatabaseSettings,
    env: Record<string, string>,
  ): Department {
    const url = `http://127.0.0.1:${port}`;
    const department: Department = {
      url,
      settings,
      db: new Database(settings, `${name}-test`),
      start: async () => {
        const child = spawn(process.execPath, [join(ROOT, 'dist', 'apps', name, 'src', 'main.js')], {
          env: { ...process.env, ...env, PORT: String(port), PGDATABASE: settings.database },
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        department.process = child;
        await waitReady(url, child);
      },
      stop: async () => {
        const child = department.process;
        if (!child || child.exitCode !== null) return;
        child.kill('SIGTERM');
        await once(child, 'exit');
      },
    };
    return department;
  }

  /** Row counts of every table a record update writes, in all three databases. */
  async snapshot(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const [name, db] of [
      ['emr', this.emr.db],
      ['lis', this.lis.db],
      ['pacs', this.pacs.db],
    ] as const) {
      for (const table of [
        'fhir_resource',
        'fhir_resource_history',
        'fhir_search_index',
        'tx_participant_branch',
      ]) {
        const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
        counts[`${name}.${table}`] = row?.n ?? 0;
      }
      const [prepared] = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_prepared_xacts WHERE database = current_database()',
      );
      counts[`${name}.prepared`] = prepared?.n ?? 0;
    }
    return counts;
  }

  async stop(): Promise<void> {
    await Promise.all([this.lis?.stop(), this.pacs?.stop()]);
    await this.emr?.app.close();
    for (const db of [this.emr?.db, this.lis?.db, this.pacs?.db]) await db?.close();
    for (const drop of this.drops) await drop();
    rmSync(this.worklists, { recursive: true, force: true });
  }
}

/** POSTs or PUTs FHIR JSON and returns status, headers and parsed body. */
export async function fhir(
  url: string,
  init: { method?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: init.method ?? (init.body !== undefined || init.raw !== undefined ? 'POST' : 'GET'),
    headers: {
      'content-type': 'application/fhir+json',
      authorization: testAuthorizationFor(url),
      ...init.headers,
    },
    body: init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

/** Polls `condition` until it holds (an event the test cannot await directly, such as a recovery sweep). */
export async function eventually(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
