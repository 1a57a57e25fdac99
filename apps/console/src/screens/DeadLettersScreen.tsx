import { useState } from 'react';
import { errorText, fanOut, getJson, postJson, query, servicePath, type FanOut } from '../api';
import { Empty, ErrorLine, Forbidden, Toolbar, Warnings } from '../components/Status';
import { formatInstant } from '../format';
import { href, useLoader } from '../hooks';
import type { DeadLetter, DeadLetterQueue } from '../types';

interface QueueView extends DeadLetterQueue {
  service: string;
  letters: DeadLetter[];
  /** Why the letters of a queue with dead letters could not be listed. */
  error?: string;
}

interface Loaded {
  queues: QueueView[];
  out: FanOut<DeadLetterQueue[]>;
}

const queuePath = (service: string, queue: string, rest = '') =>
  servicePath(service, `messages/dead-letters/${encodeURIComponent(queue)}${rest}`);

/** Every service's queues with their dead-letter depth, and the letters of those that have some. */
async function load(signal: AbortSignal): Promise<Loaded> {
  const out = await fanOut<DeadLetterQueue[]>('messages/dead-letters', signal);
  const queues: QueueView[] = out.results.flatMap(({ service, value }) =>
    (Array.isArray(value) ? value : []).map((q) => ({ ...q, service, letters: [] })),
  );
  await Promise.all(
    queues
      .filter((q) => q.deadLetters > 0)
      .map(async (q) => {
        try {
          q.letters = await getJson<DeadLetter[]>(
            queuePath(q.service, q.queue, query({ limit: 100 })),
            signal,
          );
        } catch (error) {
          q.error = errorText(error);
        }
      }),
  );
  queues.sort((a, b) => b.deadLetters - a.deadLetters || a.queue.localeCompare(b.queue));
  return { queues, out };
}

/** Dead letters per consumer queue of every service, with a replay per queue. */
export function DeadLettersScreen() {
  const loaded = useLoader(load, 'dead-letters');
  const [replay, setReplay] = useState<{ queue: string; text: string; failed?: boolean }>();
  const [busy, setBusy] = useState<string>();

  const replayQueue = async (q: QueueView) => {
    setBusy(q.queue);
    try {
      const answer = await postJson<{ replayed?: number }>(queuePath(q.service, q.queue, '/replay'), {});
      setReplay({ queue: q.queue, text: `replayed ${answer?.replayed ?? 0} from ${q.queue}` });
    } catch (error) {
      setReplay({ queue: q.queue, text: `replay of ${q.queue} failed: ${errorText(error)}`, failed: true });
    } finally {
      setBusy(undefined);
      loaded.reload();
    }
  };

  const queues = loaded.data?.queues ?? [];
  const letters = queues.flatMap((q) =>
    q.letters.map((letter) => ({ ...letter, queue: q.queue, service: q.service })),
  );

  return (
    <section data-testid="dead-letters">
      <Toolbar title="Dead letters" loading={loaded.loading} at={loaded.at}>
        <button type="button" onClick={loaded.reload}>
          Refresh
        </button>
      </Toolbar>
      <ErrorLine error={loaded.error} />
      {replay ? (
        <p className={`notice ${replay.failed ? 'error' : 'success'}`} data-testid="replay-result">
          {replay.text}
        </p>
      ) : null}
      {loaded.data?.out.forbidden ? (
        <Forbidden />
      ) : (
        <>
          <Warnings warnings={loaded.data?.out.warnings ?? []} />
          <h3>Queues</h3>
          {loaded.data && queues.length === 0 ? <Empty>No service reports a consumer queue.</Empty> : null}
          {queues.length > 0 ? (
            <div className="table-wrap">
              <table data-testid="queues-table">
                <thead>
                  <tr>
                    <th>service</th>
                    <th>queue</th>
                    <th className="num">dead letters</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {queues.map((q) => (
                    <tr
                      key={`${q.service}/${q.queue}`}
                      data-testid="queue-row"
                      className={q.deadLetters > 0 ? 'attention-row' : ''}
                    >
                      <td>{q.service}</td>
                      <td className="mono">{q.queue}</td>
                      <td className="num">{q.deadLetters}</td>
                      <td>
                        <button
                          type="button"
                          data-testid={`replay-${q.queue}`}
                          disabled={busy !== undefined || q.deadLetters === 0}
                          onClick={() => void replayQueue(q)}
                        >
                          {busy === q.queue ? 'replaying…' : 'Replay'}
                        </button>
                        {q.error ? <span className="warning-text small"> {q.error}</span> : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          <h3>Letters</h3>
          <div className="table-wrap">
            <table data-testid="dead-letters-table">
              <thead>
                <tr>
                  <th>dead-lettered</th>
                  <th>service</th>
                  <th>queue</th>
                  <th>type</th>
                  <th>gtid</th>
                  <th>reason</th>
                  <th className="num">deliveries</th>
                  <th>message id</th>
                </tr>
              </thead>
              <tbody>
                {letters.map((l) => (
                  <tr key={`${l.service}/${l.queue}/${l.messageId}`} data-testid="dead-letter-row">
                    <td className="nowrap">{formatInstant(l.deadLetteredAt)}</td>
                    <td>{l.service}</td>
                    <td className="mono">{l.queue}</td>
                    <td>{l.type}</td>
                    <td className="mono">
                      {l.gtid ? (
                        <a href={`${href('transactions')}?q=${encodeURIComponent(l.gtid)}`}>{l.gtid}</a>
                      ) : (
                        '—'
                      )}
                    </td>
                    <td className="wrap">{l.reason ?? '—'}</td>
                    <td className="num">{l.deliveries ?? '—'}</td>
                    <td className="mono small">{l.messageId}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {loaded.data && letters.length === 0 ? <Empty>No dead letters.</Empty> : null}
        </>
      )}
    </section>
  );
}
