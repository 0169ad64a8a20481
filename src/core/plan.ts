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

export function newPlan(): SendPlan {
  return { targets: [], commands: [], apply: [], release: [] };
}

/** Append `plan`'s parts to `into` (one plan for a batch of sends, built without a merged copy per send). */
export function appendPlan(into: SendPlan, plan: SendPlan): void {
  for (const x of plan.targets) into.targets.push(x);
  for (const x of plan.commands) into.commands.push(x);
  for (const x of plan.apply) into.apply.push(x);
  for (const x of plan.release) into.release.push(x);
}

/**
 * Take out of `plan` what was added after it had `targets`, `commands`, `apply` and `release` entries of these
 * counts, releasing the reservations of what is taken out (a send of a batch that failed halfway through planning).
 */
export function truncatePlan(plan: SendPlan, targets: number, commands: number, apply: number, release: number): void {
  for (let i = release; i < plan.release.length; i++) plan.release[i]!();
  plan.targets.length = targets;
  plan.commands.length = commands;
  plan.apply.length = apply;
  plan.release.length = release;
}
