// Redis pub/sub for several instances, with its health visible. Redis PUBLISH is fire and
// forget: what is published while a subscriber's connection is down never reaches it. So
// this target is loud, not lossless: the moment either connection is lost (closed, or silent
// for a PING round: a hung Redis or a dead network path closes nothing for hours), `onLost`
// listeners are told (every live subscription of this instance ends with a retryable error,
// see graphql/subscriptions.ts), `healthy()` is false until both connections are back and
// the subscriber's channels are subscribed again, then `onReconnect` listeners are told.
// Publishes while disconnected wait in the client's offline queue (bounded here), so a short
// outage of the publishing side loses nothing; beyond the bound they are dropped and counted.
import type { Redis } from 'ioredis';
import type { Logger } from './observability';

/** Publishes held while Redis is away; beyond this they are dropped (and counted). */
export const MAX_PENDING_PUBLISHES = 10_000;
/**
 * A connection that answers no PING within this time is treated as lost and reconnected: a
 * Redis that hangs, or a network path that drops silently, closes no socket for hours.
 */
export const PING_EVERY_MS = 2_000;

export interface PubSubHealth {
  /** True when live events are flowing (in-process pub/sub: always). */
  healthy(): boolean;
  /** 'in-process' | 'connected' | 'disconnected', for /readyz. */
  state(): 'in-process' | 'connected' | 'disconnected';
  /** False for in-process pub/sub, which can never lose an event. */
  readonly canLose: boolean;
  /** Called once per loss of the connection (subscriptions of this instance may miss events). */
  onLost(cb: () => void): () => void;
  /** Called after every reconnect, once subscriptions are live again. */
  onReconnect(cb: () => void): () => void;
  /** Reconnects so far (for a metric). */
  readonly reconnects: number;
  /** Publishes dropped because Redis was away too long (for a metric). */
  readonly droppedPublishes: number;
}

type Callback = (event: { type: string; detail: unknown }) => void;

export function createRedisEventTarget(publishClient: Redis, subscribeClient: Redis, logger?: Logger) {
  const callbacksForTopic = new Map<string, Set<Callback>>();
  const lost = new Set<() => void>();
  const back = new Set<() => void>();
  let up = false;
  let everUp = false;
  let closing = false;
  let pending = 0;
  const health = {
    reconnects: 0,
    droppedPublishes: 0,
    canLose: true,
    healthy: () => up,
    state: () => (up ? 'connected' : 'disconnected') as 'connected' | 'disconnected',
    onLost(cb: () => void) {
      lost.add(cb);
      return () => void lost.delete(cb);
    },
    onReconnect(cb: () => void) {
      back.add(cb);
      return () => void back.delete(cb);
    },
  } satisfies PubSubHealth;

  const down = () => {
    if (!up) return;
    up = false;
    if (!closing) logger?.warn('redis pub/sub connection lost: live subscriptions end with a retryable error');
    for (const cb of [...lost]) cb();
  };
  const maybeUp = () => {
    if (up || publishClient.status !== 'ready' || subscribeClient.status !== 'ready') return;
    // ioredis re-subscribes the channels right after 'ready'; a PING answered after them
    // means they are live again.
    void subscribeClient.ping().then(
      () => {
        if (up || publishClient.status !== 'ready' || subscribeClient.status !== 'ready') return;
        up = true;
        if (!everUp) {
          everUp = true;
          return;
        }
        health.reconnects++;
        logger?.warn('redis pub/sub connection back');
        for (const cb of [...back]) cb();
      },
      () => {},
    );
  };
  for (const client of [publishClient, subscribeClient]) {
    client.on('close', down);
    client.on('end', down);
    client.on('ready', maybeUp);
    // Connection errors surface as close/reconnect; without a listener ioredis prints each one.
    client.on('error', () => {});
  }
  maybeUp();

  const pinger = setInterval(() => {
    for (const client of [publishClient, subscribeClient]) {
      if (client.status !== 'ready') continue;
      let answered = false;
      void client.ping().then(
        () => {
          answered = true;
        },
        () => {},
      );
      setTimeout(() => {
        if (answered || closing || client.status !== 'ready') return;
        logger?.warn('redis did not answer PING in time: reconnecting');
        client.disconnect(true);
      }, PING_EVERY_MS).unref();
    }
  }, PING_EVERY_MS);
  pinger.unref();

  subscribeClient.on('message', (channel: string, message: string) => {
    const callbacks = callbacksForTopic.get(channel);
    if (!callbacks) return;
    const event = { type: channel, detail: message === '' ? null : JSON.parse(message) };
    for (const cb of callbacks) cb(event);
  });

  const target = {
    addEventListener(topic: string, listener: Callback | { handleEvent: Callback } | null) {
      if (!listener) return;
      const cb = 'handleEvent' in listener ? listener.handleEvent : listener;
      let callbacks = callbacksForTopic.get(topic);
      if (!callbacks) {
        callbacks = new Set();
        callbacksForTopic.set(topic, callbacks);
        subscribeClient.subscribe(topic).catch(() => {});
      }
      callbacks.add(cb);
    },
    removeEventListener(topic: string, listener: Callback | { handleEvent: Callback } | null) {
      if (!listener) return;
      const cb = 'handleEvent' in listener ? listener.handleEvent : listener;
      const callbacks = callbacksForTopic.get(topic);
      if (!callbacks) return;
      callbacks.delete(cb);
      if (callbacks.size > 0) return;
      callbacksForTopic.delete(topic);
      subscribeClient.unsubscribe(topic).catch(() => {});
    },
    dispatchEvent(event: { type: string; detail?: unknown }) {
      if (!up && pending >= MAX_PENDING_PUBLISHES) {
        health.droppedPublishes++;
        return true;
      }
      pending++;
      publishClient
        .publish(event.type, event.detail === undefined ? '' : JSON.stringify(event.detail))
        .catch(() => {
          health.droppedPublishes++;
        })
        .finally(() => pending--);
      return true;
    },
  };
  const close = () => {
    closing = true;
    clearInterval(pinger);
    publishClient.disconnect();
    subscribeClient.disconnect();
  };
  return { target, health, close };
}
