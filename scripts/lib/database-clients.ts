import { Client, type ClientConfig } from 'pg';

/**
 * One connection to each database a fault run or trial reads, by service name: opened on first use and
 * again after it broke (a database restarted under the run).
 */
export class DatabaseClients<Name extends string = string> {
  private readonly clients = new Map<Name, Client>();

  constructor(private readonly configOf: (name: Name) => ClientConfig) {}

  async rows<T extends object>(name: Name, sql: string, params: unknown[] = []): Promise<T[]> {
    let client = this.clients.get(name);
    if (!client) {
      client = new Client(this.configOf(name));
      client.on('error', () => this.clients.delete(name));
      await client.connect();
      this.clients.set(name, client);
    }
    return (await client.query<T>(sql, params)).rows;
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.end().catch(() => undefined)));
    this.clients.clear();
  }
}
