/**
 * Typed access to a request's parameters with AWS-shaped errors. The JSON protocol is strict about types;
 * the query protocol sends everything as strings, so `lenient` accepts numeric and boolean strings too.
 */
import { AwsError, sqsError } from './errors.js';

export type Input = Record<string, unknown>;

export class Params {
  constructor(
    readonly input: Input,
    readonly lenient: boolean,
    private readonly mkErr: (code: 'MissingParameter' | 'InvalidParameterValue', msg: string) => AwsError = (c, m) => sqsError(c, m),
  ) {}

  missing(name: string): AwsError {
    return this.mkErr('MissingParameter', `The request must contain the parameter ${name}.`);
  }

  invalid(name: string, why: string, value?: unknown): AwsError {
    const v = value === undefined ? '' : ` ${typeof value === 'string' ? value.slice(0, 200) : JSON.stringify(value)?.slice(0, 200)}`;
    return this.mkErr('InvalidParameterValue', `Value${v} for parameter ${name} is invalid. Reason: ${why}`);
  }

  has(name: string): boolean {
    return this.input[name] !== undefined && this.input[name] !== null;
  }

  str(name: string): string {
    const v = this.optStr(name);
    if (v === undefined) throw this.missing(name);
    return v;
  }

  optStr(name: string): string | undefined {
    const v = this.input[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw this.invalid(name, 'must be a string.', v);
    return v;
  }

  int(name: string, min: number, max: number): number {
    const v = this.optInt(name, min, max);
    if (v === undefined) throw this.missing(name);
    return v;
  }

  optInt(name: string, min: number, max: number): number | undefined {
    return toInt(this.input[name], name, min, max, this.lenient, this);
  }

  optBool(name: string): boolean | undefined {
    const v = this.input[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'boolean') return v;
    if (this.lenient && typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
    throw this.invalid(name, 'must be a boolean.', v);
  }

  optStrList(name: string): string[] | undefined {
    const v = this.input[name];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw this.invalid(name, 'must be a list of strings.', v);
    return v as string[];
  }

  optList(name: string): unknown[] | undefined {
    const v = this.input[name];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) throw this.invalid(name, 'must be a list.', v);
    return v;
  }

  optMap(name: string): Record<string, unknown> | undefined {
    const v = this.input[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw this.invalid(name, 'must be a map.', v);
    return v as Record<string, unknown>;
  }

  /** A map whose values are all strings (queue attributes, tags). */
  optStrMap(name: string): Record<string, string> | undefined {
    const m = this.optMap(name);
    if (!m) return undefined;
    for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') throw this.invalid(`${name}.${k}`, 'must be a string.', v);
    return m as Record<string, string>;
  }

  sub(input: unknown, name: string): Params {
    if (!input || typeof input !== 'object' || Array.isArray(input)) throw this.invalid(name, 'must be a structure.');
    return new Params(input as Input, this.lenient, this.mkErr);
  }
}

export function toInt(v: unknown, name: string, min: number, max: number, lenient: boolean, p: Params): number | undefined {
  if (v === undefined || v === null) return undefined;
  let n: number;
  if (typeof v === 'number') n = v;
  else if (lenient && typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) n = Number(v);
  else throw p.invalid(name, 'must be an integer.', v);
  if (!Number.isInteger(n)) throw p.invalid(name, 'must be an integer.', v);
  if (n < min || n > max) throw p.invalid(name, `must be between ${min} and ${max}.`, v);
  return n;
}
