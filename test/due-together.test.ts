// The piece the wallet question and the authentication cache share (server/src/lib/due-together.ts):
// which busy entries a renewal carries, and how the callers of a carried entry share its read.
import DataLoader from 'dataloader';
import { describe, expect, it } from 'vitest';
import { DueTogether, readAlong } from '../server/src/lib/due-together';
import { nextTurn } from './support/wait';

describe('DueTogether', () => {
  it('carries the busy entries due within half a period, not the asking ones, each once', () => {
    let now = 0;
    const until = new Map<string, number>([
      ['a', 1000],
      ['b', 1400],
      ['c', 1600],
      ['idle', 1000],
    ]);
    const due = new DueTogether<string>(
      1000,
      (k) => until.get(k),
      () => now,
    );
    for (const k of ['a', 'b', 'c']) due.used(k);
    now = 1000;
    // Due by 1500: b (a asks, c is later, idle was not used).
    expect(due.take(new Set(['a']))).toEqual(['b']);
    // a and b are being read, so no longer busy; c is still waiting for its turn.
    now = 1200;
    expect(due.take(new Set())).toEqual(['c']);
    expect(due.take(new Set())).toEqual([]);
  });

  it('forgets entries that are gone or dropped', () => {
    const until = new Map<string, number>([
      ['a', 10],
      ['b', 10],
    ]);
    const due = new DueTogether<string>(
      1000,
      (k) => until.get(k),
      () => 0,
    );
    due.used('a');
    due.used('b');
    until.delete('a');
    due.drop('b');
    expect(due.take(new Set())).toEqual([]);
    until.set('a', 10);
    expect(due.take(new Set())).toEqual([]);
  });
});

describe('readAlong', () => {
  it('callers of a carried key share the read while it is out; every key leaves the cache when answered', async () => {
    let reads = 0;
    const kept: string[] = [];
    const loader: DataLoader<string, string> = new DataLoader(async (keys) =>
      readAlong(
        loader,
        keys,
        ['carried'],
        async (all) => {
          reads++;
          await new Promise((r) => setTimeout(r, 20));
          return all.map((k) => `${k}!`);
        },
        (all, answers) => kept.push(...all.map((k, i) => `${k}=${answers[i]}`)),
      ),
    );
    const first = loader.load('asked');
    await nextTurn();
    // The read is out: the carried key's caller waits for it.
    const carried = loader.load('carried');
    expect(await Promise.all([first, carried])).toEqual(['asked!', 'carried!']);
    expect(reads).toBe(1);
    expect(kept).toEqual(['asked=asked!', 'carried=carried!']);
    // Answered: asked again, it is read again.
    expect(await loader.load('carried')).toBe('carried!');
    expect(reads).toBe(2);
  });

  it('a failed read fails the callers of carried keys too, and an unasked carried key raises nothing', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    let kept = 0;
    try {
      const loader: DataLoader<string, string> = new DataLoader(async (keys) =>
        readAlong(
          loader,
          keys,
          ['carried', 'unasked'],
          async () => {
            await new Promise((r) => setTimeout(r, 20));
            throw new Error('connection lost');
          },
          () => kept++,
        ),
      );
      const first = loader.load('asked');
      await nextTurn();
      const carried = loader.load('carried');
      await expect(first).rejects.toThrow('connection lost');
      await expect(carried).rejects.toThrow('connection lost');
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
      expect(kept).toBe(0);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
