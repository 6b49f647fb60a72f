// A typed in-process event, for local observers (metrics) of one module's facts. It never
// crosses instances: what subscribers see goes through the module's pub/sub topics.
import { EventEmitter } from 'node:events';

export type EventMap = Record<string, unknown[]>;

export class LocalEvents<M extends EventMap> {
  private readonly emitter = new EventEmitter();

  on<K extends Extract<keyof M, string>>(name: K, listener: (...args: M[K]) => void): void {
    this.emitter.on(name, listener as (...args: unknown[]) => void);
  }

  emit<K extends Extract<keyof M, string>>(name: K, ...args: M[K]): void {
    this.emitter.emit(name, ...args);
  }
}
