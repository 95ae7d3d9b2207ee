// Engine events for GET /events: kept in a bounded ring so --since can replay recent history.
import { EventEmitter } from 'node:events';

export interface EngineEvent {
  Type: 'container' | 'image' | 'volume' | 'network' | 'daemon' | 'builder';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  // Deprecated fields older clients still read.
  status?: string;
  id?: string;
  from?: string;
}

const RING = 2048;

export class EventBus {
  private ring: EngineEvent[] = [];
  private emitter = new EventEmitter();
  constructor() { this.emitter.setMaxListeners(0); }

  publish(Type: EngineEvent['Type'], Action: string, id: string, attributes: Record<string, string> = {}): void {
    const now = process.hrtime.bigint();
    const wall = BigInt(Date.now()) * 1_000_000n + (now % 1_000_000n);
    const ev: EngineEvent = {
      Type, Action, Actor: { ID: id, Attributes: attributes }, scope: 'local',
      time: Number(wall / 1_000_000_000n), timeNano: Number(wall),
    };
    if (Type === 'container' || Type === 'image') {
      ev.status = Action;
      ev.id = id;
      if (attributes.image) ev.from = attributes.image;
    }
    this.ring.push(ev);
    if (this.ring.length > RING) this.ring.splice(0, this.ring.length - RING);
    this.emitter.emit('event', ev);
  }

  history(): EngineEvent[] { return this.ring.slice(); }
  subscribe(fn: (e: EngineEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}
