/**
 * Which subscriptions a publish to a topic reaches: a trie over dot-separated segments with
 * `*` (one segment) and `>` (the rest, including nothing) children, so a publish costs the depth
 * of the name, not the number of subscriptions.
 */
interface Node<T> {
  children: Map<string, Node<T>>;
  items: Set<T>;
}

function node<T>(): Node<T> {
  return { children: new Map(), items: new Set() };
}

/** Distinct topic names whose matches are remembered; past it the memory starts over. */
const MATCH_CACHE_LIMIT = 10_000;

export class TopicIndex<T> {
  private readonly root: Node<T> = node();
  private count = 0;
  /** match() results by topic name, valid until the next add or remove: a publish to a busy topic walks the trie once. */
  private readonly matches = new Map<string, ReadonlySet<T>>();

  get size(): number {
    return this.count;
  }

  add(pattern: string, item: T): void {
    this.matches.clear();
    let n = this.root;
    for (const seg of pattern.split('.')) {
      let c = n.children.get(seg);
      if (!c) n.children.set(seg, (c = node()));
      n = c;
    }
    if (!n.items.has(item)) {
      n.items.add(item);
      this.count++;
    }
  }

  remove(pattern: string, item: T): void {
    this.matches.clear();
    const path: Array<[Node<T>, string]> = [];
    let n: Node<T> | undefined = this.root;
    for (const seg of pattern.split('.')) {
      const c: Node<T> | undefined = n.children.get(seg);
      if (!c) return;
      path.push([n, seg]);
      n = c;
    }
    if (n.items.delete(item)) this.count--;
    // prune empty branches
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, seg] = path[i];
      const child = parent.children.get(seg)!;
      if (child.items.size || child.children.size) break;
      parent.children.delete(seg);
    }
  }

  /** Every item whose pattern matches the concrete topic name. */
  match(name: string): ReadonlySet<T> {
    const known = this.matches.get(name);
    if (known) return known;
    const out = new Set<T>();
    const segs = name.split('.');
    const walk = (n: Node<T>, i: number) => {
      const rest = n.children.get('>');
      if (rest) for (const it of rest.items) out.add(it);
      if (i === segs.length) {
        for (const it of n.items) out.add(it);
        return;
      }
      const exact = n.children.get(segs[i]);
      if (exact) walk(exact, i + 1);
      const star = n.children.get('*');
      if (star) walk(star, i + 1);
    };
    walk(this.root, 0);
    if (this.matches.size >= MATCH_CACHE_LIMIT) this.matches.clear();
    this.matches.set(name, out);
    return out;
  }
}
