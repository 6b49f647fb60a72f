// The fast path's group commit (quota.lease-batch.ts) on its own: what arrives in one
// event-loop turn shares one write, nobody is answered before the write holding their entry
// finished, at most maxConcurrent writes are out, a failed write fails each of its callers,
// and a full queue refuses at once. (The writes here are functions the test controls; the
// real statement is exercised by leases.test.ts against PostgreSQL.)
import { describe, expect, it } from 'vitest';
import { LeaseBatcher } from '../../server/src/modules/quota/quota.lease-batch';
import { nextTurn } from '../support/wait';

/** A writer whose writes finish when the test says so. */
function controlled() {
  const writes: { entries: number[]; finish: (fail?: Error) => void }[] = [];
  const write = (entries: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      writes.push({ entries, finish: (fail) => (fail ? reject(fail) : resolve(entries.map((e) => `w${e}`))) });
    });
  return { writes, write };
}

describe('LeaseBatcher', () => {
  it('writes what arrived in one turn together, answers each after its write, and batches what arrives while writes are out', async () => {
    const { writes, write } = controlled();
    const b = new LeaseBatcher(write, { maxItems: 100, maxConcurrent: 2, maxQueued: 1000 });
    const answered: string[] = [];
    const first = [1, 2, 3].map((e) => b.submit(e)?.then((o) => answered.push(o)));
    await nextTurn();
    expect(writes.map((w) => w.entries)).toEqual([[1, 2, 3]]);
    const second = b.submit(4)?.then((o) => answered.push(o));
    await nextTurn();
    // A second write may be out at once (maxConcurrent 2)...
    expect(writes.map((w) => w.entries)).toEqual([[1, 2, 3], [4]]);
    // ... not a third: these wait for one to come back, then go together.
    const third = [5, 6].map((e) => b.submit(e)?.then((o) => answered.push(o)));
    await nextTurn();
    expect(writes).toHaveLength(2);
    expect(answered).toEqual([]);
    writes[1]?.finish();
    await second;
    expect(answered).toEqual(['w4']);
    await nextTurn();
    expect(writes.map((w) => w.entries)).toEqual([[1, 2, 3], [4], [5, 6]]);
    writes[0]?.finish();
    writes[2]?.finish();
    await Promise.all([...first, ...third]);
    expect(answered.sort()).toEqual(['w1', 'w2', 'w3', 'w4', 'w5', 'w6']);
    expect(b.stats).toEqual({ flushes: 3, calls: 6 });
    await b.drain();
  });

  it('a failed write fails each of its callers, not the others; a full queue refuses at once', async () => {
    const { writes, write } = controlled();
    const b = new LeaseBatcher(write, { maxItems: 2, maxConcurrent: 1, maxQueued: 3 });
    const calls = [1, 2, 3].map((e) => b.submit(e));
    expect(b.submit(4)).toBeNull();
    const outcomes = calls.map((p) =>
      p?.then(
        (o) => o,
        (e: Error) => e.message,
      ),
    );
    await nextTurn();
    // maxItems 2: the first write holds two entries; the third waits for it.
    expect(writes.map((w) => w.entries)).toEqual([[1, 2]]);
    writes[0]?.finish(new Error('lost'));
    await nextTurn();
    expect(writes.map((w) => w.entries)).toEqual([[1, 2], [3]]);
    writes[1]?.finish();
    expect(await Promise.all(outcomes)).toEqual(['lost', 'lost', 'w3']);
    await b.drain();
  });
});
