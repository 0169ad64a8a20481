/**
 * The port through which parts of the broker that keep their own state beside the engine (the SQS and SNS
 * services) take part in the definitions document. The admin module owns this interface; the composition root
 * (src/app/aws-module.ts) adapts the services to it and registers them, so no protocol imports the admin
 * module and the admin module imports no protocol.
 */

/** What a section says about each item it imported. `kind` names the counter (`sqsQueues`, `snsTopics`…). */
export interface SectionReport {
  created(kind: string): void;
  existing(kind: string): void;
  skipped(what: string, reason: string): void;
}

export interface DefinitionsSection {
  /** The key of this section in the document (`sqs`, `sns`); sections import in registration order. */
  readonly key: string;
  /** The counters this section reports (`sqsQueues`…): an import's answer always has them, zero or not. */
  readonly kinds: readonly string[];
  /**
   * Whether an engine queue or subscription, or a queue's policy override, is this section's own: it is then left
   * out of the generic lists of the document (the section recreates it), and the policy API does not edit it.
   */
  owns(kind: 'queue' | 'subscription' | 'policy', name: string): boolean;
  /** The section's part of the document (plain JSON). */
  export(): unknown;
  /** Check the section's part of a document before anything is imported; throws an Error naming the bad item. */
  parse(value: unknown): unknown;
  /**
   * Recreate what `parse` returned through the service itself (so what it creates is consumed); an item that
   * fails is reported as skipped, with the service's reason.
   */
  import(parsed: unknown, report: SectionReport): Promise<void>;
}

/** The sections of one running broker (created by the composition root, shared by the modules that need it). */
export class DefinitionsRegistry {
  private readonly list: DefinitionsSection[] = [];

  register(section: DefinitionsSection): () => void {
    if (this.list.some((s) => s.key === section.key)) throw new Error(`definitions section '${section.key}' is registered twice`);
    this.list.push(section);
    return () => {
      const i = this.list.indexOf(section);
      if (i >= 0) this.list.splice(i, 1);
    };
  }

  get sections(): readonly DefinitionsSection[] {
    return this.list;
  }

  owns(kind: 'queue' | 'subscription' | 'policy', name: string): DefinitionsSection | undefined {
    return this.list.find((s) => s.owns(kind, name));
  }
}
