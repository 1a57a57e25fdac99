// Where the CPU goes during a bench phase, from /proc: each service process, every PostgreSQL process of
// the cluster (backends, WAL writer…; other clients of the same cluster included), the bench client itself,
// and the whole machine.
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { processCpuSeconds } from './service-process';

export interface CpuSnapshot {
  at: number;
  services: Record<string, number | undefined>;
  postgres: Map<number, number>;
  client: NodeJS.CpuUsage;
  /** Machine-wide jiffies from /proc/stat: busy and total. */
  machine?: { busy: number; total: number };
}

/** CPU use over a phase, in percent of one core (200 = two cores busy). */
export interface CpuUse {
  services: Record<string, number | null>;
  postgres: number;
  client: number;
  /** Busy share of the whole machine (all cores), percent. */
  machine_busy: number | null;
  /** Everything else on the machine (other users' processes), percent of one core. */
  other: number | null;
  cores: number;
}

function postgresProcesses(): Map<number, number> {
  const result = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return result;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const seconds = processCpuSeconds(pid);
    if (seconds !== undefined) result.set(pid, seconds);
  }
  return result;
}

function machineJiffies(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const total = values.reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/**
 * A process of the machine found by its command name (`/proc/<pid>/comm`: `beam.smp` for RabbitMQ,
 * `mosquitto`), for CPU accounting like a service's; it reports nothing when there is none (the broker
 * runs elsewhere). A shared broker's CPU includes its other clients' work.
 */
export function processNamed(comm: string): { cpuSeconds(): number | undefined } {
  let pid: string | undefined;
  try {
    pid = readdirSync('/proc').find((entry) => {
      try {
        return /^\d+$/.test(entry) && readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm;
      } catch {
        return false;
      }
    });
  } catch {
    pid = undefined;
  }
  return { cpuSeconds: () => (pid === undefined ? undefined : processCpuSeconds(Number(pid))) };
}

export function cpuSnapshot(services: Record<string, { cpuSeconds(): number | undefined }>): CpuSnapshot {
  return {
    at: performance.now(),
    services: Object.fromEntries(Object.entries(services).map(([name, s]) => [name, s.cpuSeconds()])),
    postgres: postgresProcesses(),
    client: process.cpuUsage(),
    machine: machineJiffies(),
  };
}

/**
 * CPU used between two snapshots. PostgreSQL: processes alive at both ends count their difference, those
 * started in between count whole; those that ended in between are missed.
 */
export function cpuUse(from: CpuSnapshot, to: CpuSnapshot): CpuUse {
  const wall = (to.at - from.at) / 1000;
  const percent = (seconds: number): number => Math.round((seconds / wall) * 1000) / 10;
  const services: Record<string, number | null> = {};
  for (const [name, end] of Object.entries(to.services)) {
    const start = from.services[name];
    services[name] = end === undefined || start === undefined ? null : percent(end - start);
  }
  let pg = 0;
  for (const [pid, end] of to.postgres) pg += end - (from.postgres.get(pid) ?? 0);
  const clientSeconds = (to.client.user - from.client.user + to.client.system - from.client.system) / 1e6;
  const machine =
    from.machine && to.machine && to.machine.total > from.machine.total
      ? Math.round(((to.machine.busy - from.machine.busy) / (to.machine.total - from.machine.total)) * 1000) /
        10
      : null;
  const cores = cpus().length;
  const ours =
    Object.values(services).reduce<number>((a, b) => a + (b ?? 0), 0) + percent(pg) + percent(clientSeconds);
  return {
    services,
    postgres: percent(pg),
    client: percent(clientSeconds),
    machine_busy: machine,
    other: machine === null ? null : Math.max(0, Math.round((machine * cores - ours) * 10) / 10),
    cores,
  };
}
