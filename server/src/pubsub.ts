// The one pub/sub port: in-process by default, Redis when REDIS_URL is set, so a subscriber
// on instance B sees what instance A committed. Payloads are JSON-safe (they cross Redis):
// instants may arrive as ISO strings, which the DateTime scalar accepts. Generic: modules
// declare their topics (<module>.topics.ts), the composition root assembles them (topics.ts),
// and each module publishes its own facts after commit through a Publisher of its topics.
import { setMaxListeners } from 'node:events';
import { createRequire } from 'node:module';
import { createPubSub, type PubSub } from 'graphql-yoga';
import type { Redis as RedisClient } from 'ioredis';
import { OncePerTurn } from './lib/once-per-turn';
import type { Logger } from './observability';
import { createRedisEventTarget, type PubSubHealth } from './pubsub-redis';

export type { PubSubHealth };

/** Topic name -> publish arguments: [payload], or [routing id, payload]. */
// biome-ignore lint/suspicious/noExplicitAny: the shape graphql-yoga's PubSub requires
export type TopicMap = { [topic: string]: [] | [any] | [number | string, any] };

/** How a module publishes its topics: after its transaction committed, never inside it. */
export interface Publisher<T extends TopicMap> {
  publish<K extends Extract<keyof T, string>>(topic: K, ...args: T[K]): void;
  /**
   * Whether publishing `topic` for `id` can reach anyone: with in-process pub/sub only this
   * process's subscribers can; with Redis, other instances may always. Lets a module skip
   * copying payloads nobody will read.
   */
  listens(topic: Extract<keyof T, string>, id?: string): boolean;
}

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

export interface TallyPubSubHandle<T extends TopicMap> {
  pubsub: PubSub<T>;
  /** The same pub/sub as a Publisher, to hand to the modules. */
  publisher: Publisher<T>;
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

/**
 * A "this tenant's X changed" topic, published once per tenant per event-loop turn however many
 * writes told it, and only where someone may listen (lib/once-per-turn.ts): quota and credits.
 */
export function tenantChanges<K extends string>(
  publisher: Publisher<{ [k in K]: [tenantId: string, payload: { tenantId: string }] }>,
  topic: K,
): OncePerTurn {
  const name = topic as Extract<K, string>;
  return new OncePerTurn((t) => {
    if (publisher.listens(name, t))
      publisher.publish(name, ...([t, { tenantId: t }] as [string, { tenantId: string }]));
  });
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

function publisherOf<T extends TopicMap>(pubsub: PubSub<T>, listens: (topic: string) => boolean): Publisher<T> {
  return {
    publish: (topic, ...args) => pubsub.publish(topic, ...args),
    listens: (topic, id) => listens(id == null ? topic : `${topic}:${id}`),
  };
}

export function createTallyPubSub<T extends TopicMap = TopicMap>(
  redisUrl?: string,
  logger?: Logger,
  hooks: PubSubHooks = {},
): TallyPubSubHandle<T> {
  if (!redisUrl) {
    const eventTarget = new CountingEventTarget();
    // Many subscribers of one tenant's topic is normal.
    setMaxListeners(0, eventTarget);
    const pubsub = createPubSub<T>({ eventTarget: eventTarget as never });
    const listens = (topic: string) => eventTarget.listens(topic);
    return {
      pubsub,
      publisher: publisherOf(pubsub, listens),
      listens,
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
  const pubsub = createPubSub<T>({ eventTarget: target as never });
  return {
    pubsub,
    publisher: publisherOf(pubsub, () => true),
    listens: () => true,
    health,
    close: async () => close(),
  };
}
