// A Mosquitto broker of the runner's own, for fault runs that stop and start the broker: its own config
// file, port and persistence directory in a temporary folder, so the machine's shared broker (1883) is never
// touched. Stopped with SIGTERM (Mosquitto writes its persistence file on the way out) and started again
// on the same port and directory: persistent sessions and their queued QoS 1 messages survive the restart.
import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killWithRunner, portInUse } from './service-process';

export interface MqttBrokerOptions {
  port: number;
  /** The mosquitto binary (`MOSQUITTO_BIN`, else `mosquitto` on the PATH). */
  binary?: string;
  /** Most QoS 1 messages queued per persistent session while its client is away. */
  maxQueuedMessages?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One Mosquitto process on 127.0.0.1:<port>, with persistence in a directory of its own. */
export class MqttBroker {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private readonly directory: string;
  private output = '';

  constructor(private readonly options: MqttBrokerOptions) {
    this.directory = mkdtempSync(join(tmpdir(), `hospital-mosquitto-${options.port}-`));
    // Started as root, Mosquitto drops to its own user before writing its persistence file: the folder
    // must be writable by that user too, or every restart silently loses the sessions and their queues.
    chmodSync(this.directory, 0o777);
    writeFileSync(
      join(this.directory, 'mosquitto.conf'),
      [
        `listener ${options.port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${this.directory}/`,
        `max_queued_messages ${options.maxQueuedMessages ?? 100_000}`,
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        '',
      ].join('\n'),
    );
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.options.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts Mosquitto and waits until it accepts connections (fails if the port is taken). */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.child) return;
    if (await portInUse(this.options.port))
      throw new Error(
        `MQTT port ${this.options.port} is already in use (another run, or a broker left over?)`,
      );
    const binary = this.options.binary ?? process.env.MOSQUITTO_BIN ?? 'mosquitto';
    const child = spawn(binary, ['-c', join(this.directory, 'mosquitto.conf')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-4_000);
    });
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.child = child;
    killWithRunner(child);
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.child) {
        const error = await Promise.race([spawnError, sleep(10).then(() => undefined)]);
        throw new Error(
          `mosquitto exited during start-up${error ? `: ${error.message}` : ''}${this.output ? `\n${this.output}` : ''}`,
        );
      }
      if (await portInUse(this.options.port)) return;
      await sleep(50);
    }
    await this.stop();
    throw new Error(
      `mosquitto did not listen on ${this.options.port} within ${timeoutMs} ms\n${this.output}`,
    );
  }

  /**
   * SIGTERM (Mosquitto saves its persistence file), SIGKILL if it has not exited after `graceMs`. Throws
   * when Mosquitto could not save: a restart would then lose every session.
   */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || !this.exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    this.child = undefined;
    if (/Error saving/.test(this.output))
      throw new Error(`mosquitto could not save its persistence file:\n${this.output.trim()}`);
  }

  /** Stops the broker and deletes its folder (config and persistence). */
  async close(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.directory, { recursive: true, force: true });
  }
}
