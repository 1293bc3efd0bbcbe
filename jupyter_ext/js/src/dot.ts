// The view graph as DOT for Graphviz (WebAssembly). Same conventions as roar's CLI export
// (roar/graphviz_export.py): jobs are boxes, artifacts notes; a state shows as a line style
// and a word in the label as well as a colour.

import type { ViewEdge, ViewGraph, ViewNode } from "./view";

const JOB_FILL = { active: "#dbeafe", stale: "#fef3c7", superseded: "#f3f4f6" };
const ARTIFACT_FILL = { active: "#ecfdf5", stale: "#fef3c7", superseded: "#f3f4f6" };
const FAILED = "#b91c1c";
// Past this many nodes Graphviz's crossing minimisation dominates; bound its passes.
const LARGE = 600;

export function toDot(view: ViewGraph): string {
  const large = view.nodes.length > LARGE;
  const lines = [
    "digraph roar {",
    `graph [rankdir=LR bgcolor="transparent" fontname="Helvetica" nodesep=0.25 ranksep=0.5${large ? " mclimit=0.2 nslimit=2 nslimit1=2 searchsize=10" : ""}]`,
    'node [fontname="Helvetica" fontsize=10 margin="0.1,0.04"]',
    'edge [color="#6b7280" arrowsize=0.7 fontname="Helvetica" fontsize=9]',
  ];
  for (const n of view.nodes) lines.push(`${quote(n.id)} [${attributes(nodeAttributes(n))}]`);
  for (const e of view.edges) lines.push(`${quote(e.source)} -> ${quote(e.target)} [${attributes(edgeAttributes(e))}]`);
  lines.push("}");
  return lines.join("\n");
}

export function nodeAttributes(n: ViewNode): Record<string, string> {
  const one = n.members.length === 1 ? n.members[0] : null;
  const lines = [n.label];
  if (one?.type === "artifact") lines.push(one.short_hash ?? "content unknown");
  const words = markWords(n);
  if (words.length) lines.push(`[${words.join(", ")}]`);
  const m = n.marks;
  const state = m.stale ? "stale" : m.superseded === n.members.length ? "superseded" : "active";
  const styles = [n.kind === "job" ? "rounded" : "", "filled"];
  if (m.stale) styles.push("dashed");
  else if (m.missing) styles.push("dashed");
  else if (state === "superseded") styles.push("dotted");
  const attrs: Record<string, string> = {
    shape: n.kind === "job" ? "box" : "note",
    style: styles.filter(Boolean).join(","),
    fillcolor: (n.kind === "job" ? JOB_FILL : ARTIFACT_FILL)[state],
    label: lines.join("\n"),
  };
  if (n.members.length > 1) attrs.peripheries = "2"; // a stack: several runs or files
  if (m.failed || m.missing) attrs.color = FAILED;
  if (m.failed) attrs.penwidth = "2";
  return attrs;
}

/** "stale", "exit 1", "missing", … — for a group, how many members are so. */
export function markWords(n: ViewNode): string[] {
  const m = n.marks;
  const one = n.members.length === 1 ? n.members[0] : null;
  const count = (k: number, word: string) => (k ? (one ? word : `${k} ${word}`) : "");
  const failed =
    one?.type === "job" && one.failed ? (one.interrupted ? "interrupted" : `exit ${one.exit_code}`) : count(m.failed, "failed");
  const orphaned = one?.type === "artifact" && one.state === "orphaned" ? "orphaned" : "";
  return [count(m.stale, "stale"), count(m.superseded, "superseded"), orphaned, failed, count(m.missing, "missing")].filter(Boolean);
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
