// The one pub/sub port: in-process by default, Redis when REDIS_URL is set, so a subscriber
// on instance B sees what instance A committed. Payloads are JSON-safe (they cross Redis):
// instants may arrive as ISO strings, which the DateTime scalar accepts.
import { setMaxListeners } from 'node:events';
import { createRequire } from 'node:module';
import { createPubSub, type PubSub } from 'graphql-yoga';
import type { Redis as RedisClient } from 'ioredis';
import type { AlertRow } from './modules/quota/quota.types';
import type { EventRow } from './modules/usage/usage.types';
import type { Logger } from './observability';
import { createRedisEventTarget, type PubSubHealth } from './pubsub-redis';

export type { PubSubHealth };

export type PublishedEvent = Omit<EventRow, 'fingerprint'>;

export type Topics = {
  'usage:recorded': [tenantId: string, payload: PublishedEvent];
  'quota:alert': [tenantId: string, payload: AlertRow];
  'quota:changed': [tenantId: string, payload: { tenantId: string }];
  /** Every revocation, for every instance's authentication cache, sockets and subscriptions. */
  'keys:revoked': [payload: { keyId: string }];
};

export type TallyPubSub = PubSub<Topics>;

/** An EventTarget that knows which event types have listeners (in-process pub/sub only). */
class CountingEventTarget extends EventTarget {
  private counts = new Map<string, number>();
  override addEventListener(...args: Parameters<EventTarget['addEventListener']>) {
    this.counts.set(args[0], (this.counts.get(args[0]) ?? 0) + 1);
    super.addEventListener(...args);
  }
  override removeEventListener(...args: Parameters<EventTarget['removeEventListener']>) {
    const n = (this.counts.get(args[0]) ?? 0) - 1;
    if (n > 0) this.counts.set(args[0], n);
    else this.counts.delete(args[0]);
    super.removeEventListener(...args);
  }
  listens(type: string): boolean {
    return this.counts.has(type);
  }
}

export interface TallyPubSubHandle {
  pubsub: TallyPubSub;
  /**
   * Whether publishing `topic` (yoga's "routingKey:id") can reach anyone: with in-process
   * pub/sub only this process's subscribers can; with Redis, other instances may always.
   */
  listens: (topic: string) => boolean;
  /** Whether live events flow, and hooks for losses and reconnects (Redis only). */
  health: PubSubHealth;
  close: () => Promise<void>;
}

export interface PubSubHooks {
  /** A Redis client started a reconnection attempt, or is connected again after a loss (metrics). */
  onRedis?: (client: 'publish' | 'subscribe', event: 'reconnecting' | 'reconnected') => void;
}

const IN_PROCESS: PubSubHealth = {
  healthy: () => true,
  state: () => 'in-process',
  canLose: false,
  onLost: () => () => {},
  onReconnect: () => () => {},
  reconnects: 0,
  droppedPublishes: 0,
};

export function createTallyPubSub(redisUrl?: string, logger?: Logger, hooks: PubSubHooks = {}): TallyPubSubHandle {
  if (!redisUrl) {
    const eventTarget = new CountingEventTarget();
    // Many subscribers of one tenant's topic is normal.
    setMaxListeners(0, eventTarget);
    return {
      pubsub: createPubSub<Topics>({ eventTarget: eventTarget as never }),
      listens: (topic) => eventTarget.listens(topic),
      health: IN_PROCESS,
      close: async () => {},
    };
  }
  // Loaded only when configured: the Redis client costs about 9 MB of memory otherwise unused.
  const require = createRequire(import.meta.url);
  const { Redis } = require('ioredis') as { Redis: typeof RedisClient };
  // Reconnect quickly after an outage (at most 2 s between attempts).
  const options = { maxRetriesPerRequest: null, retryStrategy: (n: number) => Math.min(2_000, 50 * 2 ** n) };
  const publishClient = new Redis(redisUrl, options);
  const subscribeClient = new Redis(redisUrl, options);
  for (const [role, client] of [
    ['publish', publishClient],
    ['subscribe', subscribeClient],
  ] as const) {
    let connectedBefore = false;
    client.on('reconnecting', () => hooks.onRedis?.(role, 'reconnecting'));
    client.on('ready', () => {
      if (connectedBefore) hooks.onRedis?.(role, 'reconnected');
      connectedBefore = true;
    });
  }
  const { target, health, close } = createRedisEventTarget(publishClient, subscribeClient, logger);
  return {
    pubsub: createPubSub<Topics>({ eventTarget: target as never }),
    listens: () => true,
    health,
    close: async () => close(),
  };
}
