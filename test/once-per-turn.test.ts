// "Something changed for X" is published once per X per event-loop turn, however many writes
// told it (server/src/lib/once-per-turn.ts): with Redis, one PUBLISH per authorization was
// about 6% of an instance's decisions a second.
import { describe, expect, it } from 'vitest';
import { OncePerTurn } from '../server/src/lib/once-per-turn';
import { nextTurn } from './support/wait';
import { World } from './support/world';

const world = await World.forFile('once-per-turn');

describe('OncePerTurn', () => {
  it('sends each id told during a turn once, in the next turn', async () => {
    const sent: string[] = [];
    const news = new OncePerTurn((id) => sent.push(id));
    news.add(['a', 'b']);
    news.add(['a']);
    news.add(new Set(['c', 'a']));
    expect(sent).toEqual([]);
    await nextTurn();
    expect(sent).toEqual(['a', 'b', 'c']);
    // A later turn's ids go out again: nothing is remembered once sent.
    news.add(['a']);
    await nextTurn();
    expect(sent).toEqual(['a', 'b', 'c', 'a']);
    await nextTurn();
    expect(sent).toHaveLength(4);
  });

  it('an id told while ids are being sent goes out in the turn after, not lost', async () => {
    const sent: string[] = [];
    const news: OncePerTurn = new OncePerTurn((id) => {
      sent.push(id);
      if (id === 'a') news.add(['a', 'b']);
    });
    news.add(['a']);
    await nextTurn();
    expect(sent).toEqual(['a']);
    await nextTurn();
    expect(sent).toEqual(['a', 'a', 'b']);
  });

  it('a send that throws keeps neither the other ids nor later turns from going out', async () => {
    const sent: string[] = [];
    const news = new OncePerTurn((id) => {
      if (id === 'bad') throw new Error('publisher down');
      sent.push(id);
    });
    news.add(['bad', 'x']);
    await nextTurn();
    news.add(['y']);
    await nextTurn();
    expect(sent).toEqual(['x', 'y']);
  });
});

describe('quota:changed from authorizations', () => {
  it('is published once per tenant for a flush of concurrent reservations, and a watcher sees the last of them', async () => {
    const t = await world
      .tenant('coalesced')
      .onPlan([{ metric: 'COST', period: 'DAY', amount: '100', action: 'BLOCK' }]);
    const events = world.h.app.pubsub.subscribe('quota:changed', t.id)[Symbol.asyncIterator]();
    let seen = 0;
    const counting = (async () => {
      for (let e = await events.next(); !e.done; e = await events.next()) seen++;
    })();
    await nextTurn();
    const payloads = await Promise.all(
      Array.from({ length: 30 }, () => t.authorize({ estimate: { cost: '1' }, reserveSeconds: 60 })),
    );
    expect(payloads.every((p) => p.allowed)).toBe(true);
    await nextTurn();
    await nextTurn();
    // Thirty reservations, decided in a few flushes: a few messages, at least one.
    expect(seen).toBeGreaterThanOrEqual(1);
    expect(seen).toBeLessThan(10);
    // What a watcher reads after the last message holds every reservation.
    expect(world.item(await t.quota(), t.limit(0)).reserved).toBe('30.000000000000');
    await events.return?.();
    await counting;
  });
});
