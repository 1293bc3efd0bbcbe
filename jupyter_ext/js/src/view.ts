// What is drawn: the payload narrowed to a neighbourhood and with repeated runs collapsed.
// Pure functions (no DOM), so they are cheap to reason about and to test.

import { MODIFIED, type GraphEdge, type GraphNode, type GraphPayload } from "./types";

export interface Marks {
  stale: number;
  superseded: number;
  missing: number;
  failed: number;
  /** artifacts whose path holds other bytes now, edited outside roar (not a later run's version) */
  modified: number;
}

export interface ViewNode {
  id: string; // the payload id, "group-N" for collapsed repeats, FOLDED_CELLS for quiet cells
  kind: "job" | "artifact";
  label: string;
  members: GraphNode[]; // the node itself, or every member of a group
  marks: Marks;
  /** The notebook cells that touch no file and feed no cell that does, folded into one node. */
  folded?: boolean;
}

export interface ViewEdge {
  source: string;
  target: string;
  kind: GraphEdge["kind"];
  label: string;
  previousRun: boolean;
  count: number;
}

export interface ViewGraph {
  nodes: ViewNode[];
  edges: ViewEdge[];
  byId: Map<string, ViewNode>;
  viewOf: Map<string, string>; // payload id → id of the view node showing it (groups: itself)
}

export interface ViewOptions {
  collapse: boolean;
  minGroup: number; // fewer repeats than this stay separate nodes
  focus: string | null; // payload id whose neighbourhood is shown, or null for everything
  depth: number; // hops around the focus (job → artifact → job is two)
  allCells: boolean; // false: fold the cells that touch no file and feed none that does
}

export const DEFAULT_VIEW: ViewOptions = { collapse: false, minGroup: 3, focus: null, depth: 2, allCells: false };
export const FOLDED_CELLS = "folded-cells";

export function buildView(payload: GraphPayload, opts: ViewOptions): ViewGraph {
  const keep = opts.focus ? neighbourhood(payload, opts.focus, opts.depth) : null;
  const nodes = keep ? payload.nodes.filter((n) => keep.has(n.id)) : payload.nodes;
  const edges = keep
    ? payload.edges.filter((e) => keep.has(e.source) && keep.has(e.target))
    : payload.edges;
  const viewOf = new Map(nodes.map((n) => [n.id, n.id]));
  let groups = 0;
  const grouped = new Map<string, GraphNode[]>();
  // A focused neighbourhood is small and its centre may be a quiet cell: nothing is folded there.
  const quiet = opts.allCells || opts.focus ? [] : quietCells(nodes, edges);
  if (quiet.length > 1) {
    grouped.set(FOLDED_CELLS, quiet);
    for (const m of quiet) viewOf.set(m.id, FOLDED_CELLS);
  }
  if (opts.collapse) {
    const assign = (members: GraphNode[]) => {
      const id = `group-${++groups}`;
      grouped.set(id, members);
      for (const m of members) viewOf.set(m.id, id);
    };
    const shown = quiet.length > 1 ? nodes.filter((n) => viewOf.get(n.id) === n.id) : nodes;
    repeatedJobs(shown, opts.minGroup).forEach(assign);
    repeatedArtifacts(shown, edges, viewOf, opts.minGroup).forEach(assign);
    for (const id of grouped.keys()) viewOf.set(id, id);
  }
  const viewNodes: ViewNode[] = [];
  for (const [id, members] of grouped) if (id !== FOLDED_CELLS) viewNodes.push(groupNode(id, members));
  for (const n of nodes) if (viewOf.get(n.id) === n.id) viewNodes.push(singleNode(n));
  // Last, so Graphviz places it after (right of / below) the pipeline, not before it.
  if (grouped.has(FOLDED_CELLS)) viewNodes.push(foldedNode(quiet));
  return {
    nodes: viewNodes,
    edges: mergeEdges(edges, viewOf),
    byId: new Map(viewNodes.map((n) => [n.id, n])),
    viewOf,
  };
}

/** Payload ids within ``depth`` hops upstream or downstream of ``start``. Directed on purpose:
 * going up then down again would pull in every consumer of a shared input (a sweep's data). */
export function neighbourhood(payload: GraphPayload, start: string, depth: number): Set<string> {
  const down = new Map<string, string[]>();
  const up = new Map<string, string[]>();
  for (const e of payload.edges) {
    push(down, e.source, e.target);
    push(up, e.target, e.source);
  }
  const seen = new Set([start]);
  for (const next of [down, up]) {
    let frontier = [start];
    for (let hop = 0; hop < depth && frontier.length; hop++) {
      frontier = frontier.flatMap((id) => next.get(id) ?? []).filter((id) => !seen.has(id));
      frontier.forEach((id) => seen.add(id));
    }
  }
  return seen;
}

/** Notebook cells that read, write or delete no file and whose variables reach (through other
 * cells) no cell that does: `x1 = 1 + 1` and the like, which would otherwise swamp the pipeline.
 * Jobs of other kinds (`roar run`) always count. */
export function quietCells(nodes: GraphNode[], edges: GraphEdge[]): GraphNode[] {
  const cells = nodes.filter((n) => n.type === "job" && n.kind === "cell");
  if (cells.length < 2) return [];
  const isCell = new Set(cells.map((n) => n.id));
  const feeders = new Map<string, string[]>(); // cell → cells whose variables it read
  const loud: string[] = [];
  const seen = new Set<string>();
  const mark = (id: string) => {
    if (!seen.has(id)) {
      seen.add(id);
      loud.push(id);
    }
  };
  for (const e of edges) {
    if (e.kind === "variable") {
      if (isCell.has(e.target)) push(feeders, e.target, e.source);
    } else if (isCell.has(e.source)) mark(e.source); // output
    else if (isCell.has(e.target)) mark(e.target); // input, deleted
  }
  for (let i = 0; i < loud.length; i++) for (const up of feeders.get(loud[i]) ?? []) mark(up);
  return cells.filter((n) => !seen.has(n.id));
}

/** Ids reachable from ``start`` along edges (downstream) or against them (upstream). */
export function reachable(view: ViewGraph, start: string, direction: "up" | "down"): Set<string> {
  const next = new Map<string, string[]>();
  for (const e of view.edges)
    direction === "down" ? push(next, e.source, e.target) : push(next, e.target, e.source);
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length) {
    for (const other of next.get(stack.pop() as string) ?? [])
      if (!seen.has(other) && other !== start) {
        seen.add(other);
        stack.push(other);
      }
  }
  return seen;
}

/** View nodes whose label, path, command, job uid or hash matches ``query`` (a prefix for
 * hashes, a substring otherwise; case-insensitive). */
export function search(view: ViewGraph, query: string): ViewNode[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  return view.nodes.filter((v) => v.members.some((m) => matches(m, q)));
}

function matches(n: GraphNode, q: string): boolean {
  if (n.label.toLowerCase().includes(q)) return true;
  if (n.type === "artifact") return (n.hash ?? "").startsWith(q) || n.path.toLowerCase().includes(q);
  return n.job_uid.startsWith(q) || n.command.toLowerCase().includes(q) || n.step_ref.toLowerCase() === q;
}

/** Runs of the same command with other numbers (a sweep, a loop) or of the same cell. */
function repeatedJobs(nodes: GraphNode[], minGroup: number): GraphNode[][] {
  const byKey = new Map<string, GraphNode[]>();
  for (const n of nodes) {
    if (n.type !== "job") continue;
    const key = n.kind === "cell" && n.cell_id
      ? `cell\0${n.notebook_path ?? ""}\0${n.cell_id}`
      : `${n.kind}\0${template(n.step_name ?? n.command)}`;
    push(byKey, key, n);
  }
  return [...byKey.values()].filter((g) => g.length >= minGroup);
}

/** Files alike in name (up to numbers) that connect the same (possibly collapsed) jobs. */
function repeatedArtifacts(
  nodes: GraphNode[],
  edges: GraphEdge[],
  viewOf: Map<string, string>,
  minGroup: number,
): GraphNode[][] {
  const neighbours = new Map<string, string[]>();
  for (const e of edges) {
    push(neighbours, e.source, `>${viewOf.get(e.target)}`);
    push(neighbours, e.target, `<${viewOf.get(e.source)}`);
  }
  const bySignature = new Map<string, GraphNode[]>();
  for (const n of nodes) {
    if (n.type !== "artifact") continue;
    const around = [...new Set(neighbours.get(n.id) ?? [])].sort().join(" ");
    push(bySignature, `${template(n.label)}\0${around}`, n);
  }
  return [...bySignature.values()].filter((g) => g.length >= minGroup);
}

function template(text: string): string {
  return text.replace(/\d+/g, "#");
}

function marksOf(members: GraphNode[]): Marks {
  const marks: Marks = { stale: 0, superseded: 0, missing: 0, failed: 0, modified: 0 };
  for (const m of members) {
    if (m.state === "stale") marks.stale++;
    if (m.state === "superseded") marks.superseded++;
    if (m.type === "artifact" && m.missing) marks.missing++;
    if (m.type === "job" && m.failed) marks.failed++;
    if (isModified(m)) marks.modified++;
  }
  return marks;
}

/** A file whose path holds other bytes than roar recorded, other than by a later run (a
 * superseded version's path holds the newer one: that is not an edit). As counts.modified. */
export function isModified(n: GraphNode): boolean {
  return n.type === "artifact" && n.disk_state === MODIFIED && n.state !== "superseded";
}

function singleNode(n: GraphNode): ViewNode {
  return { id: n.id, kind: n.type, label: n.label, members: [n], marks: marksOf([n]) };
}

function groupNode(id: string, members: GraphNode[]): ViewNode {
  const first = members[0];
  const base = first.type === "job" ? first.step_name ?? first.command : first.label;
  const text = template(base);
  const short = text.length > 40 ? `${text.slice(0, 39)}…` : text;
  return { id, kind: first.type, label: `${short} ×${members.length}`, members, marks: marksOf(members) };
}

function foldedNode(members: GraphNode[]): ViewNode {
  const label = `${members.length} cells without files`;
  return { id: FOLDED_CELLS, kind: "job", label, members, marks: marksOf(members), folded: true };
}

function mergeEdges(edges: GraphEdge[], viewOf: Map<string, string>): ViewEdge[] {
  const merged = new Map<string, ViewEdge>();
  for (const e of edges) {
    const source = viewOf.get(e.source);
    const target = viewOf.get(e.target);
    if (!source || !target || source === target) continue;
    const key = `${source}\0${target}\0${e.kind}`;
    const seen = merged.get(key);
    if (seen) {
      seen.count++;
      seen.previousRun &&= Boolean(e.previous_run);
      continue;
    }
    const label =
      e.kind === "variable" ? (e.names ?? []).join(", ") : e.kind === "deleted" ? "deleted" : e.previous_run ? "earlier run" : "";
    merged.set(key, { source, target, kind: e.kind, label, previousRun: Boolean(e.previous_run), count: 1 });
  }
  return [...merged.values()];
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
