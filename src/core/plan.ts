/** A routed, admitted send: the commands to commit and what to apply once they are committed. */
import type { Message } from './message.js';
import type { CoreQueue } from './queue.js';
import type { Command } from './store.js';

export interface SendPlan {
  /** Admitted target queues, given seqs by finalizePlan right before the commit. */
  targets: Array<{ q: CoreQueue; m: Message; size: number }>;
  commands: Command[];
  apply: Array<() => void>;
  /** Undo reservations if the plan is abandoned. */
  release: Array<() => void>;
}

export function mergePlans(plans: SendPlan[]): SendPlan {
  return { targets: plans.flatMap((x) => x.targets), commands: plans.flatMap((x) => x.commands), apply: plans.flatMap((x) => x.apply), release: plans.flatMap((x) => x.release) };
}
