// The side panel describing the selected node. Everything from the payload is set as text
// (never as HTML): commands, paths and cell sources are user data.

import { markWords, MODIFIED_MEANS } from "./dot";
import type { ArtifactNode, GraphEdge, GraphNode, GraphPayload, JobNode, Labels } from "./types";
import { isModified, type ViewNode } from "./view";

const MAX_LISTED = 200;

export interface DetailsContext {
  payload: GraphPayload;
  byId: Map<string, GraphNode>;
  edgesOf: Map<string, GraphEdge[]>;
  /** Jump to a payload node (select it, or focus on it when it is hidden in a group). */
  go: (id: string) => void;
}

export function renderDetails(panel: HTMLElement, node: ViewNode | null, ctx: DetailsContext): void {
  panel.replaceChildren();
  if (!node) {
    panel.append(el("p", "roar-dag-hint", "Click a node for its details; drag to pan, wheel to zoom."));
    return;
  }
  const words = markWords(node);
  if (node.members.length > 1) return groupDetails(panel, node, words, ctx);
  const n = node.members[0];
  panel.append(el("h3", "", n.label));
  if (words.length) panel.append(el("p", "roar-dag-marks", words.join(" · ")));
  if (n.type === "job") jobDetails(panel, n, ctx);
  else artifactDetails(panel, n, ctx);
}

function jobDetails(panel: HTMLElement, n: JobNode, ctx: DetailsContext): void {
  const rows: [string, string | null | undefined][] = [
    ["step", `${n.step_ref} (${n.kind}${n.runs > 1 ? `, ${n.runs} runs` : ""})`],
    ["job", n.job_uid],
    ["command", n.kind === "cell" ? null : n.command],
    ["notebook", n.notebook_path],
    ["exit code", n.interrupted ? `${n.exit_code} (interrupted)` : String(n.exit_code)],
    ["started", n.started_at],
    ["duration", `${n.duration_seconds.toFixed(3)} s`],
    ["commit", n.git_commit ? `${n.git_commit.slice(0, 12)}${n.git_dirty ? " (dirty)" : ""}` : null],
    ["state", n.state],
  ];
  panel.append(table(rows));
  labelsSection(panel, n.labels);
  if (n.source != null) {
    panel.append(el("h4", "", "cell source"), el("pre", "roar-dag-source", n.source));
  }
  const edges = ctx.edgesOf.get(n.id) ?? [];
  fileList(panel, "inputs", edges.filter((e) => e.target === n.id && e.kind === "input").map((e) => e.source), ctx);
  fileList(panel, "outputs", edges.filter((e) => e.source === n.id && e.kind === "output").map((e) => e.target), ctx);
  fileList(panel, "deleted", edges.filter((e) => e.target === n.id && e.kind === "deleted").map((e) => e.source), ctx);
  const vars = edges.filter((e) => e.target === n.id && e.kind === "variable");
  if (vars.length) {
    panel.append(el("h4", "", "variables from"));
    panel.append(list(vars.map((e) => [e.source, `${labelOf(ctx, e.source)} (${(e.names ?? []).join(", ")})`]), ctx));
  }
}

function artifactDetails(panel: HTMLElement, n: ArtifactNode, ctx: DetailsContext): void {
  panel.append(
    table([
      ["path", n.path],
      ["hash", n.hash ?? "unknown (deleted before roar recorded it)"],
      ["size", n.size == null ? null : `${n.size.toLocaleString()} bytes`],
      ["state", n.state],
      ["on disk", n.missing ? "missing" : isModified(n) ? `modified on disk: ${MODIFIED_MEANS}` : "present"],
      ["now at path", n.superseded_by],
      ["kind", n.composite ? "directory (composite)" : null],
    ]),
  );
  labelsSection(panel, n.labels);
  const edges = ctx.edgesOf.get(n.id) ?? [];
  jobList(panel, "produced by", edges.filter((e) => e.target === n.id).map((e) => e.source), ctx);
  jobList(panel, "consumed by", edges.filter((e) => e.source === n.id && e.kind !== "deleted").map((e) => e.target), ctx);
  jobList(panel, "deleted by", edges.filter((e) => e.source === n.id && e.kind === "deleted").map((e) => e.target), ctx);
}

/** A node's `roar label` document, one row per dotted key (nothing when it has none). */
function labelsSection(panel: HTMLElement, labels: Labels | undefined): void {
  const rows = flattenLabels(labels ?? {});
  if (!rows.length) return;
  panel.append(el("h4", "", "labels"));
  const grid = table(rows);
  grid.classList.add("roar-dag-labels");
  panel.append(grid);
}

export function flattenLabels(doc: Labels, prefix = ""): [string, string][] {
  const rows: [string, string][] = [];
  for (const [key, value] of Object.entries(doc)) {
    if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
      rows.push(...flattenLabels(value as Labels, `${prefix}${key}.`));
    } else {
      rows.push([`${prefix}${key}`, typeof value === "string" && value !== "" ? value : JSON.stringify(value)]);
    }
  }
  return rows;
}

function groupDetails(panel: HTMLElement, node: ViewNode, words: string[], ctx: DetailsContext): void {
  const what = node.kind === "job" ? "runs" : "files";
  panel.append(el("h3", "", node.label));
  panel.append(el("p", "", `${node.members.length} ${what} alike, collapsed. Pick one to see its neighbourhood.`));
  if (words.length) panel.append(el("p", "roar-dag-marks", words.join(" · ")));
  const shown = node.members.slice(0, MAX_LISTED);
  panel.append(list(shown.map((m) => [m.id, m.type === "artifact" ? `${m.label} ${m.short_hash ?? ""}` : m.label]), ctx));
  if (node.members.length > MAX_LISTED) panel.append(el("p", "", `… and ${node.members.length - MAX_LISTED} more`));
}

function fileList(panel: HTMLElement, title: string, ids: string[], ctx: DetailsContext): void {
  if (!ids.length) return;
  panel.append(el("h4", "", title));
  panel.append(list(ids.map((id) => {
    const a = ctx.byId.get(id);
    if (a?.type !== "artifact") return [id, id];
    return [id, `${a.label}  ${a.short_hash ?? ""}${isModified(a) ? "  (modified on disk)" : ""}`];
  }), ctx));
}

function jobList(panel: HTMLElement, title: string, ids: string[], ctx: DetailsContext): void {
  if (!ids.length) return;
  panel.append(el("h4", "", title));
  panel.append(list(ids.map((id) => [id, labelOf(ctx, id)]), ctx));
}

function labelOf(ctx: DetailsContext, id: string): string {
  return ctx.byId.get(id)?.label ?? id;
}

function list(items: [string, string][], ctx: DetailsContext): HTMLElement {
  const ul = el("ul", "roar-dag-links");
  for (const [id, text] of items.slice(0, MAX_LISTED)) {
    const a = pathText(el("a", ""), text);
    a.setAttribute("href", "#");
    a.dataset.id = id;
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      ctx.go(id);
    });
    const li = el("li", "");
    li.append(a);
    ul.append(li);
  }
  return ul;
}

function table(rows: [string, string | null | undefined][]): HTMLElement {
  // Plain divs, not <dl>: notebook front ends style definition lists in outputs.
  const grid = el("div", "roar-dag-fields");
  for (const [key, value] of rows) {
    if (value == null || value === "") continue;
    grid.append(el("div", "roar-dag-key", key), pathText(el("div", "roar-dag-value"), value));
  }
  return grid;
}

/** ``text`` into ``e`` with a line-break opportunity after each "/": a long path wraps at its
 * separators (a token longer than a line still breaks anywhere; see style.css). */
function pathText(e: HTMLElement, text: string): HTMLElement {
  const parts = text.split("/");
  parts.forEach((part, i) => {
    if (i) e.append(document.createElement("wbr"));
    e.append(document.createTextNode(i < parts.length - 1 ? `${part}/` : part));
  });
  return e;
}

export function el(tag: string, cls: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
