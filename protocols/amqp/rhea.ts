/**
 * The parts of rhea 3.0.5 (patched, see patches/rhea+3.0.5.patch) the adapter drives, with the types we
 * rely on. rhea's own typings cover its client API only; the server side used here (a Connection accepting
 * a socket, link/session internals, the codec's Reader) is typed by hand, narrowly.
 */
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';

const require = createRequire(import.meta.url);

/** An AMQP typed value as rhea's Reader returns it. */
export interface Typed {
  type: { typecode: number; name: string };
  value: unknown;
  descriptor?: Typed;
}

export interface RheaTypes {
  Reader: new (buf: Buffer) => { position: number; read(): Typed; remaining(): number };
  Writer: new () => { write(t: Typed): void; toBuffer(): Buffer };
  wrap_described(value: unknown, descriptor: number | string): Typed;
  wrap_symbol(s: string): Typed;
  wrap_string(s: string): Typed;
  wrap_ulong(n: number): Typed;
  wrap_uint(n: number): Typed;
  wrap_boolean(b: boolean): Typed;
  wrap_list(l: unknown[]): Typed;
  wrap_array(l: unknown[], code: number, descriptor?: unknown): Typed;
  wrap_map(m: Record<string, unknown>, keyWrapper?: (k: string) => Typed): Typed;
  wrap_symbolic_map(m: Record<string, unknown>): Typed;
  described(descriptor: Typed, value: Typed): Typed;
  Sym8: { typecode: number };
}

/** A described AMQP composite (outcome, terminus, performative) as rhea builds it. */
export interface Composite {
  described(): Typed;
  [field: string]: unknown;
}

export interface RheaMessageModule {
  accepted(): Composite;
  released(): Composite;
  rejected(fields: { error?: AmqpError }): Composite;
  modified(fields: Record<string, unknown>): Composite;
  declared(fields: { txn_id: Buffer }): Composite;
  transactional_state(fields: { txn_id: Buffer; outcome?: Typed }): Composite;
  unwrap_outcome(raw: unknown): (Composite & { constructor: { composite_type?: string } }) | undefined;
}

export interface AmqpError {
  condition: string;
  description?: string;
  info?: Record<string, unknown>;
}

export interface RheaFrames {
  read_frame(buf: Buffer): { type: number; channel: number; performative?: Composite & { constructor: unknown }; payload?: Buffer } | null;
  write_frame(frame: unknown): Buffer;
  sasl_frame(performative: Composite): unknown;
  sasl_mechanisms(fields: { sasl_server_mechanisms: string[] }): Composite;
  sasl_outcome(fields: { code: number; additional_data?: Buffer }): Composite;
}

export interface RheaTerminus {
  source(fields: Record<string, unknown>): Composite;
  target(fields: Record<string, unknown>): Composite;
  coordinator(fields: Record<string, unknown>): Composite;
}

export interface EndpointState {
  local_open: boolean;
  remote_open: boolean;
  open_requests: number;
}

/** A delivery in rhea's session bookkeeping (either direction). */
export interface RDelivery {
  id: number;
  tag: Buffer;
  link: RLink;
  settled: boolean;
  remote_settled: boolean;
  remote_state?: Composite & { constructor: { composite_type?: string } };
  /** Incoming: the transfer's raw `state` field (patched in). */
  raw_state?: unknown;
  format?: number;
  update(settled: boolean | undefined, state?: Typed): void;
  /** Ours: what the adapter attached to it. */
  wharf?: unknown;
}

export interface RemoteAttach {
  name: string;
  handle: number;
  role: boolean;
  snd_settle_mode: number;
  rcv_settle_mode: number;
  source: RTerminus | null;
  target: RTerminus | null;
  max_message_size?: number;
  desired_capabilities?: string | string[];
  properties?: Record<string, unknown>;
}

/** A source/target/coordinator as rhea unwraps it (patched: `terminus_type`). */
export interface RTerminus {
  terminus_type?: 'source' | 'target' | 'coordinator';
  address?: string | null;
  durable?: number;
  expiry_policy?: string;
  timeout?: number;
  dynamic?: boolean;
  dynamic_node_properties?: Record<string, unknown>;
  distribution_mode?: string;
  filter?: Record<string, unknown> | null;
  capabilities?: unknown;
}

export interface RLink extends EventEmitter {
  name: string;
  session: RSession;
  connection: RConnection;
  credit: number;
  delivery_count: number;
  issue_flow: boolean;
  state: EndpointState;
  local: { handle: number; attach: Record<string, unknown> & { source?: unknown; target?: unknown }; detach: { closed: boolean; error?: AmqpError } };
  remote: { handle?: number; attach?: RemoteAttach; detach?: { closed?: boolean; error?: AmqpError } };
  /** Patched in: the largest message accepted on a receiving link. */
  max_incoming_message_size?: number;
  _draining?: boolean;
  _get_drain(): boolean;
  is_open(): boolean;
  is_closed(): boolean;
  is_itself_closed(): boolean;
  is_sender(): boolean;
  is_receiver(): boolean;
  close(error?: AmqpError): void;
  detach(): void;
  remove(): void;
  set_source(fields: Record<string, unknown>): void;
  set_target(fields: Record<string, unknown>): void;
  // sender
  send(payload: Buffer, tag: Buffer, format: number): RDelivery;
  // receiver
  flow(credit: number): void;
}

export interface RSession extends EventEmitter {
  connection: RConnection;
  local: { channel: number; begin: Record<string, unknown> };
  remote: { channel?: number; begin?: Record<string, unknown> };
  outgoing: { available(): number; deliveries: { size: number; capacity: number } };
  links: Record<string, RLink>;
  close(error?: AmqpError): void;
  is_closed(): boolean;
}

export interface RConnection extends EventEmitter {
  container_id: string | undefined;
  options: Record<string, unknown>;
  local: { open: Record<string, unknown> };
  remote: { open?: Record<string, unknown> & { container_id?: string; desired_capabilities?: unknown; max_frame_size?: number; idle_time_out?: number; channel_max?: number; hostname?: string } };
  local_channel_map: Record<string, RSession>;
  accept(socket: unknown): RConnection;
  close(error?: AmqpError): void;
  is_closed(): boolean;
  is_open(): boolean;
  _register(): void;
}

export interface RContainer extends EventEmitter {
  id: string;
  create_connection(options: Record<string, unknown>): RConnection;
  create_container(options: Record<string, unknown>): RContainer;
  connect(options: Record<string, unknown>): RConnection;
  types: RheaTypes;
  message: RheaMessageModule;
  websocket_connect(impl: unknown): (url: string, protocols?: string | string[], options?: unknown) => unknown;
}

export const rhea = require('rhea') as RContainer;
export const rheaTypes: RheaTypes = rhea.types;
export const rheaMessage: RheaMessageModule = rhea.message;
export const rheaFrames = require('rhea/lib/frames.js') as RheaFrames;
export const rheaTerminus = require('rhea/lib/terminus.js') as RheaTerminus;

const rheaErrors = require('rhea/lib/errors.js') as { ProtocolError: new (message: string) => Error & { condition?: string } };

/** rhea's ProtocolError (a connection reads its name and condition when it closes on it). */
export function protocolError(message: string, condition: string): Error {
  const e = new rheaErrors.ProtocolError(message);
  e.condition = condition;
  return e;
}
