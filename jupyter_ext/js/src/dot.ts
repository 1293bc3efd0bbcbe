// The view graph as DOT for Graphviz (WebAssembly). Same conventions as roar's CLI export
// (roar/query/graphviz_export.py): jobs are boxes, artifacts notes; a state shows as a line style
// and a word in the label as well as a colour.

import type { ViewEdge, ViewGraph, ViewNode } from "./view";

// A node's drawn state: one fill per kind and one line style per state. A new state adds a fill
// here, its case in drawnState() and a LEGEND entry. "modified": a file edited outside roar
// (modified on disk), drawn bold on orange; only artifacts are ever in it.
type DrawnState = "active" | "stale" | "superseded" | "modified";
const FILL: Record<ViewNode["kind"], Record<DrawnState, string>> = {
  job: { active: "#dbeafe", stale: "#fef3c7", superseded: "#f3f4f6", modified: "#fed7aa" },
  artifact: { active: "#ecfdf5", stale: "#fef3c7", superseded: "#f3f4f6", modified: "#fed7aa" },
};
const LINE: Record<DrawnState, string> = { active: "", stale: "dashed", superseded: "dotted", modified: "bold" };
const FOLDED_FILL = "#f3f4f6";
const FAILED = "#b91c1c";
// Past this many nodes Graphviz's crossing minimisation dominates; bound its passes.
const LARGE = 600;

/** Sizes in points (Graphviz's unit; drawn at 1:1, a point is 4/3 CSS pixels). */
export const NODE_FONT_PT = 10;
export const EDGE_FONT_PT = 9;
export const NODE_SEP_PT = 18;
export const RANK_SEP_PT = 36;
export const NODE_MARGIN_PT = { x: 7.2, y: 2.88 };
export const NODE_MIN_PT = { w: 54, h: 36 }; // Graphviz's default node size (0.75 × 0.5 in)

export type Direction = "LR" | "TB";

/** What "modified on disk" (a file edited outside roar) means, for the legend, the details
 * panel and the tooltip. */
export const MODIFIED_MEANS = "changed since roar recorded it; the steps that read it are stale";

/** What the drawing's conventions mean, shown under the graph: one entry per convention, so
 * a new one is a line here (its key becomes a class on the legend's entry). */
export const LEGEND: { key: string; text: string }[] = [
  { key: "job", text: "box = job" },
  { key: "artifact", text: "page = file" },
  { key: "stale", text: "dashed = stale" },
  { key: "superseded", text: "dotted = superseded/earlier run" },
  { key: "modified", text: `bold orange = modified on disk: ${MODIFIED_MEANS}` },
  { key: "failed", text: "red = failed or missing" },
  { key: "deleted", text: "red ⊣ = deleted by" },
  { key: "group", text: "double border = collapsed repeats or folded cells" },
];

export function toDot(view: ViewGraph, direction: Direction = "LR"): string {
  const large = view.nodes.length > LARGE;
  const inches = (pt: number) => String(pt / 72);
  const lines = [
    "digraph roar {",
    `graph [rankdir=${direction} bgcolor="transparent" fontname="Helvetica" nodesep=${inches(NODE_SEP_PT)} ranksep=${inches(RANK_SEP_PT)}${large ? " mclimit=0.2 nslimit=2 nslimit1=2 searchsize=10" : ""}]`,
    `node [fontname="Helvetica" fontsize=${NODE_FONT_PT} margin="${inches(NODE_MARGIN_PT.x)},${inches(NODE_MARGIN_PT.y)}"]`,
    `edge [color="#6b7280" arrowsize=0.7 fontname="Helvetica" fontsize=${EDGE_FONT_PT}]`,
  ];
  for (const n of view.nodes) lines.push(`${quote(n.id)} [${attributes(nodeAttributes(n))}]`);
  for (const e of view.edges) lines.push(`${quote(e.source)} -> ${quote(e.target)} [${attributes(edgeAttributes(e))}]`);
  // The folded cells go last (bottom or right), beside the pipeline's ends, not before it.
  const folded = view.nodes.find((n) => n.folded);
  if (folded) lines.push(`{ rank=sink; ${quote(folded.id)} }`);
  lines.push("}");
  return lines.join("\n");
}

/** The lines of a node's label (also what the layout estimate measures). */
export function labelLines(n: ViewNode): string[] {
  const one = n.members.length === 1 ? n.members[0] : null;
  const lines = [n.label];
  if (n.folded) lines.push("(click to show them)");
  if (one?.type === "artifact") lines.push(one.short_hash ?? "content unknown");
  const words = markWords(n);
  if (words.length) lines.push(`[${words.join(", ")}]`);
  return lines;
}

function drawnState(n: ViewNode): DrawnState {
  const m = n.marks;
  // Modified first: what the file on disk is now matters more than how roar got it.
  if (m.modified) return "modified";
  return m.stale ? "stale" : m.superseded === n.members.length ? "superseded" : "active";
}

export function nodeAttributes(n: ViewNode): Record<string, string> {
  const m = n.marks;
  const state = drawnState(n);
  const line = m.missing ? "dashed" : LINE[state]; // missing: dashed whatever its state
  const styles = [n.kind === "job" ? "rounded" : "", "filled", line];
  const attrs: Record<string, string> = {
    shape: n.kind === "job" ? "box" : "note",
    style: styles.filter(Boolean).join(","),
    fillcolor: n.folded ? FOLDED_FILL : FILL[n.kind][state],
    label: labelLines(n).join("\n"),
  };
  if (n.members.length > 1) attrs.peripheries = "2"; // a stack: several runs or files
  if (m.failed || m.missing) attrs.color = FAILED;
  if (m.failed) attrs.penwidth = "2";
  return attrs;
}

/** "stale", "exit 1", "missing", "modified on disk", … — for a group, how many members are so. */
export function markWords(n: ViewNode): string[] {
  const m = n.marks;
  const one = n.members.length === 1 ? n.members[0] : null;
  const count = (k: number, word: string) => (k ? (one ? word : `${k} ${word}`) : "");
  const failed =
    one?.type === "job" && one.failed ? (one.interrupted ? "interrupted" : `exit ${one.exit_code}`) : count(m.failed, "failed");
  const orphaned = one?.type === "artifact" && one.state === "orphaned" ? "orphaned" : "";
  return [
    count(m.modified, "modified on disk"),
    count(m.stale, "stale"),
    count(m.superseded, "superseded"),
    orphaned,
    failed,
    count(m.missing, "missing"),
  ].filter(Boolean);
}

function edgeAttributes(e: ViewEdge): Record<string, string> {
  const attrs: Record<string, string> = {};
  if (e.kind === "variable") attrs.style = "dashed";
  if (e.kind === "deleted") Object.assign(attrs, { style: "dashed", color: FAILED, fontcolor: FAILED, arrowhead: "tee" });
  if (e.previousRun) attrs.style = "dotted";
  const label = [e.label, e.count > 1 ? `×${e.count}` : ""].filter(Boolean).join(" ");
  if (label) attrs.label = label;
  return attrs;
}

function attributes(attrs: Record<string, string>): string {
  return Object.entries(attrs)
    .map(([k, v]) => `${k}=${quote(v)}`)
    .join(" ");
}

/** A DOT double-quoted string; newlines become DOT's centred line breaks. */
export function quote(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}
