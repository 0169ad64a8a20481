/** ARNs across brokers: definitions exported by one broker name its region and account in every ARN. */

/** Replace `arn:<partition>:sqs|sns:<region>:<account>:` of the exporting broker by this broker's, in a string. */
export function rewriteArns(text: string, from: { region?: string; accountId?: string }, to: { region: string; accountId: string }): string {
  if (!from.region || !from.accountId || (from.region === to.region && from.accountId === to.accountId)) return text;
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(new RegExp(`(arn:aws[\\w-]*:(?:sqs|sns)):${esc(from.region)}:${esc(from.accountId)}:`, 'g'), `$1:${to.region}:${to.accountId}:`);
}
