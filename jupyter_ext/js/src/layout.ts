// How big the drawing is shown and which way it runs. Pure functions (no DOM).
//
// Scale is CSS pixels per drawing unit (Graphviz's point). At 1:1, the drawing's own size, a
// point is 4/3 px and node text is NODE_FONT_PT × 4/3 ≈ 13 px. Fit never goes past 1:1 (a
// three-node graph is not blown up to heading-sized text) nor below MIN_TEXT_PX for node text
// (a long pipeline is drawn readable and panned instead of shrunk to 6 px).

import {
  EDGE_FONT_PT,
  labelLines,
  NODE_FONT_PT,
  NODE_MARGIN_PT,
  NODE_MIN_PT,
  NODE_SEP_PT,
  RANK_SEP_PT,
  type Direction,
} from "./dot";
import type { ViewGraph } from "./view";

export const PX_PER_PT = 96 / 72;
export const MIN_TEXT_PX = 10;
/** Fit's bounds, in px per point. */
export const MAX_FIT_SCALE = PX_PER_PT;
export const MIN_FIT_SCALE = MIN_TEXT_PX / NODE_FONT_PT;

export interface Size {
  w: number;
  h: number;
}

/** The scale fit uses to show ``drawing`` (points) in ``pane`` (px): the whole drawing when
 * that keeps node text readable, never larger than 1:1. */
export function fitScale(drawing: Size, pane: Size): number {
  const whole = Math.min(pane.w / Math.max(drawing.w, 1), pane.h / Math.max(drawing.h, 1));
  return Math.min(MAX_FIT_SCALE, Math.max(MIN_FIT_SCALE, whole));
}

/** The direction that suits ``pane``'s shape (left-right in a wide pane, top-down in a tall
 * one) unless the other shows clearly more of ``view``: its (estimated) drawing fits at a
 * scale more than SHAPE_BIAS larger (a long chain in a squarish pane runs top-down). */
export function chooseDirection(view: ViewGraph, pane: Size | null): Direction {
  if (!pane || pane.w <= 0 || pane.h <= 0) return "LR";
  const byShape: Direction = pane.w >= pane.h ? "LR" : "TB";
  if (view.nodes.length < 2) return byShape;
  const other: Direction = byShape === "LR" ? "TB" : "LR";
  const score = (d: Direction) => {
    const s = estimateSize(view, d);
    return Math.min(MAX_FIT_SCALE, pane.w / s.w, pane.h / s.h);
  };
  return score(other) > SHAPE_BIAS * score(byShape) ? other : byShape;
}

const SHAPE_BIAS = 1.15;

/** Roughly what Graphviz's dot will draw (points): ranks by longest path, node boxes from
 * their label text (Helvetica averages ~0.55 em per character). */
export function estimateSize(view: ViewGraph, direction: Direction): Size {
  const ranks = longestPathRanks(view);
  const across: { along: number; sum: number; count: number }[] = [];
  let labelled = false;
  for (const n of view.nodes) {
    const lines = labelLines(n);
    const chars = Math.max(...lines.map((l) => l.length));
    const w = Math.max(NODE_MIN_PT.w, chars * NODE_FONT_PT * 0.55 + 2 * NODE_MARGIN_PT.x);
    const h = Math.max(NODE_MIN_PT.h, lines.length * NODE_FONT_PT * 1.2 + 2 * NODE_MARGIN_PT.y);
    const [along, side] = direction === "LR" ? [w, h] : [h, w];
    const r = (across[ranks.get(n.id) ?? 0] ??= { along: 0, sum: 0, count: 0 });
    r.along = Math.max(r.along, along);
    r.sum += side;
    r.count++;
  }
  for (const e of view.edges) if (e.label) labelled = true;
  // Edge labels sit between ranks; in a left-right drawing they widen the gap most.
  const gap = RANK_SEP_PT + (labelled ? EDGE_FONT_PT * (direction === "LR" ? 4 : 1.5) : 0);
  const filled = across.filter(Boolean);
  const length = filled.reduce((t, r) => t + r.along, 0) + gap * Math.max(0, filled.length - 1);
  const breadth = Math.max(...filled.map((r) => r.sum + NODE_SEP_PT * (r.count - 1)));
  const pad = 8;
  return direction === "LR" ? { w: length + pad, h: breadth + pad } : { w: breadth + pad, h: length + pad };
}

/** Each node's rank: the longest path to it from a source (nodes on a cycle: rank 0). */
function longestPathRanks(view: ViewGraph): Map<string, number> {
  const indegree = new Map(view.nodes.map((n) => [n.id, 0]));
  const next = new Map<string, string[]>();
  for (const e of view.edges) {
    if (!indegree.has(e.source) || !indegree.has(e.target)) continue;
    indegree.set(e.target, (indegree.get(e.target) ?? 0) + 1);
    const list = next.get(e.source);
    if (list) list.push(e.target);
    else next.set(e.source, [e.target]);
  }
  const rank = new Map<string, number>();
  const queue = view.nodes.filter((n) => indegree.get(n.id) === 0).map((n) => n.id);
  for (const id of queue) rank.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    for (const t of next.get(id) ?? []) {
      rank.set(t, Math.max(rank.get(t) ?? 0, (rank.get(id) ?? 0) + 1));
      const left = (indegree.get(t) ?? 0) - 1;
      indegree.set(t, left);
      if (left === 0) queue.push(t);
    }
  }
  return rank;
}
