// renderDag(container, payload, options): roar's lineage DAG viewer, independent of any host.
// The anywidget front end (widget.ts) and the standalone bundle for webviews (standalone.ts)
// both call this; the host only supplies the payload and reacts to onSelect / onRefresh.

import { instance, type Viz } from "@viz-js/viz";

import { el, renderDetails, type DetailsContext } from "./details";
import { LEGEND, MODIFIED_MEANS, toDot, type Direction } from "./dot";
import { chooseDirection, type Size } from "./layout";
import { PanZoom } from "./panzoom";
import type { GraphEdge, GraphNode, GraphPayload } from "./types";
import {
  buildView,
  DEFAULT_VIEW,
  FOLDED_CELLS,
  isModified,
  reachable,
  search,
  type ViewGraph,
  type ViewOptions,
} from "./view";

export interface RenderOptions {
  /** Called when the user selects a node (null: selection cleared). */
  onSelect?: (id: string | null, node: GraphNode | null) => void;
  /** When given, a Refresh button asks the host for a new payload (then call update()). */
  onRefresh?: () => void;
  selected?: string | null;
  /** Collapse repeated runs: true, false, or "auto" (when the graph has > 150 nodes). */
  collapse?: boolean | "auto";
  /** Start showing only this node's neighbourhood (a payload id), as the Focus button does. */
  focus?: string | null;
  /** Hops shown around a focused node (default 2). */
  depth?: number;
  /** Show every notebook cell (default false: cells that touch no file and feed no cell that
   * does are folded into one node, which a click expands). */
  allCells?: boolean;
  /** The graph's direction: "auto" (default) picks what suits the pane's shape. */
  direction?: Direction | "auto";
}

export interface RenderStats {
  nodes: number;
  edges: number;
  layoutMs: number;
  totalMs: number;
}

export interface DagView {
  readonly element: HTMLElement;
  /** Settles when the first drawing is on screen. */
  readonly ready: Promise<RenderStats>;
  update(payload: GraphPayload): Promise<RenderStats>;
  select(id: string | null, notify?: boolean): void;
  focus(id: string | null): Promise<RenderStats>;
  setCollapse(on: boolean): Promise<RenderStats>;
  setAllCells(on: boolean): Promise<RenderStats>;
  search(query: string): string[];
  showError(message: string | null): void;
  fit(): void;
  destroy(): void;
}

const AUTO_COLLAPSE_NODES = 150;
const SLOW_LAYOUT_NODES = 1500; // Graphviz takes seconds past this (4,000 nodes: ~8 s, 2 cores)
const REDIRECT_NODES = 300; // a resized pane may turn a graph this small to suit its new shape
const SIZE_WAIT_MS = 200; // how long the first drawing waits for its pane to have a size
let vizInstance: Promise<Viz> | null = null;

/** Graphviz compiled to WebAssembly, instantiated once per page from the bundle itself. */
function graphviz(): Promise<Viz> {
  vizInstance ??= instance();
  return vizInstance;
}

export function renderDag(container: HTMLElement, payload: GraphPayload, options: RenderOptions = {}): DagView {
  return new Viewer(container, payload, options);
}

class Viewer implements DagView {
  readonly element: HTMLElement;
  readonly ready: Promise<RenderStats>;
  private payload: GraphPayload;
  private opts: ViewOptions;
  private view: ViewGraph | null = null;
  private selected: string | null;
  private nodeEls = new Map<string, SVGGElement>();
  private edgeEls: { el: SVGGElement; source: string; target: string }[] = [];
  private panzoom: PanZoom | null = null;
  private direction: Direction = "LR";
  private observer: ResizeObserver | null = null;
  private resizeTimer: ReturnType<typeof setTimeout> | undefined;
  private token = 0;
  private matches: string[] = [];
  private matchIndex = -1;
  private ui: ReturnType<typeof buildChrome>;
  private ctx: DetailsContext;

  constructor(container: HTMLElement, payload: GraphPayload, private options: RenderOptions) {
    this.payload = payload;
    this.selected = options.selected || null;
    this.opts = {
      ...DEFAULT_VIEW,
      depth: options.depth ?? DEFAULT_VIEW.depth,
      focus: options.focus ?? null,
      collapse: this.autoCollapse(payload),
      allCells: options.allCells ?? DEFAULT_VIEW.allCells,
    };
    this.ui = buildChrome(Boolean(options.onRefresh));
    this.element = this.ui.root;
    container.append(this.element);
    this.ctx = this.context();
    this.wire();
    this.ready = this.draw();
  }

  update(payload: GraphPayload): Promise<RenderStats> {
    this.payload = payload;
    this.ctx = this.context();
    if (this.opts.focus && !payload.nodes.some((n) => n.id === this.opts.focus)) this.opts.focus = null;
    return this.draw();
  }

  select(id: string | null, notify = true): void {
    const shownAs = id ? this.view?.viewOf.get(id) : null;
    if (id && shownAs === FOLDED_CELLS) {
      void this.setAllCells(true).then(() => this.select(id, notify)); // unfold to show it
      return;
    }
    if (id && !shownAs && this.opts.focus && this.ctx.byId.has(id)) {
      this.opts.focus = null; // selected elsewhere (e.g. from Python): show everything again
      void this.draw().then(() => this.select(id, notify));
      return;
    }
    this.selected = shownAs ? id : null;
    this.highlight();
    if (notify) this.options.onSelect?.(this.selected, this.selected ? this.ctx.byId.get(this.selected) ?? null : null);
  }

  focus(id: string | null): Promise<RenderStats> {
    this.opts.focus = id;
    return this.draw();
  }

  setCollapse(on: boolean): Promise<RenderStats> {
    this.opts.collapse = on;
    this.ui.collapse.checked = on;
    return this.draw();
  }

  setAllCells(on: boolean): Promise<RenderStats> {
    this.opts.allCells = on;
    this.ui.cells.checked = on;
    return this.draw();
  }

  search(query: string): string[] {
    const found = this.view ? search(this.view, query) : [];
    this.matches = found.map((v) => v.id);
    this.matchIndex = -1;
    const hits = new Set(this.matches);
    for (const [id, g] of this.nodeEls) g.classList.toggle("match", hits.has(id));
    this.ui.matches.textContent = query.trim() ? `${found.length} match${found.length === 1 ? "" : "es"}` : "";
    return this.matches;
  }

  showError(message: string | null): void {
    this.ui.error.textContent = message ?? "";
    this.ui.error.hidden = !message;
  }

  fit(): void {
    this.panzoom?.fit();
  }

  destroy(): void {
    this.token++;
    this.observer?.disconnect();
    clearTimeout(this.resizeTimer);
    this.panzoom?.destroy();
    this.element.remove();
  }

  // drawing -----------------------------------------------------------------------------------
  private async draw(): Promise<RenderStats> {
    const token = ++this.token;
    const t0 = performance.now();
    const view = buildView(this.payload, this.opts);
    if (view.nodes.length > SLOW_LAYOUT_NODES) {
      // Graphviz blocks the page for seconds at this size: say so, and let that paint first.
      this.ui.status.textContent = `Laying out ${view.nodes.length} nodes… (collapse repeats or Focus is faster)`;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const [viz, pane] = await Promise.all([graphviz(), this.paneSize()]);
    if (token !== this.token) return this.staleStats(view);
    this.direction = this.directionFor(view, pane);
    const t1 = performance.now();
    const svg = view.nodes.length ? viz.renderSVGElement(toDot(view, this.direction)) : null;
    const layoutMs = performance.now() - t1;
    this.install(view, svg);
    const stats = { nodes: view.nodes.length, edges: view.edges.length, layoutMs, totalMs: performance.now() - t0 };
    this.report(stats);
    return stats;
  }

  private directionFor(view: ViewGraph, pane: Size | null): Direction {
    const d = this.options.direction ?? "auto";
    return d === "auto" ? chooseDirection(view, pane) : d;
  }

  /** The canvas's size; a pane not laid out yet (just created, a hidden tab) is waited for
   * briefly, then drawn for a wide pane. */
  private paneSize(): Promise<Size | null> {
    const canvas = this.ui.canvas;
    const now = (): Size | null => {
      const r = canvas.getBoundingClientRect();
      return r.width > 0 && r.height > 0 ? { w: r.width, h: r.height } : null;
    };
    const size = now();
    if (size || typeof ResizeObserver === "undefined") return Promise.resolve(size);
    return new Promise((resolve) => {
      const done = () => {
        observer.disconnect();
        clearTimeout(timer);
        resolve(now());
      };
      const observer = new ResizeObserver(() => now() && done());
      const timer = setTimeout(done, SIZE_WAIT_MS);
      observer.observe(canvas);
    });
  }

  /** A resized pane: the drawing is fitted again (PanZoom) and, while the user has not moved
   * it, a small graph is laid out again when another direction now suits the pane better. */
  private watchSize(): void {
    if (typeof ResizeObserver === "undefined") return;
    this.observer = new ResizeObserver(() => {
      clearTimeout(this.resizeTimer);
      this.resizeTimer = setTimeout(() => {
        const view = this.view;
        if (!view || !this.panzoom?.fitted || view.nodes.length > REDIRECT_NODES) return;
        const r = this.ui.canvas.getBoundingClientRect();
        if (r.width <= 0 || r.height <= 0) return;
        if (this.directionFor(view, { w: r.width, h: r.height }) !== this.direction) void this.draw();
      }, 150);
    });
    this.observer.observe(this.ui.canvas);
  }

  private staleStats(view: ViewGraph): RenderStats {
    return { nodes: view.nodes.length, edges: view.edges.length, layoutMs: 0, totalMs: 0 };
  }

  private install(view: ViewGraph, svg: SVGSVGElement | null): void {
    this.view = view;
    this.panzoom?.destroy();
    this.panzoom = null;
    this.nodeEls.clear();
    this.edgeEls = [];
    if (!svg) {
      this.ui.canvas.replaceChildren(el("p", "roar-dag-empty", "Nothing recorded here yet."));
    } else {
      svg.classList.add("roar-dag");
      svg.dataset.direction = this.direction;
      this.indexSvg(svg, view);
      this.ui.canvas.replaceChildren(svg);
      this.panzoom = new PanZoom(svg);
    }
    if (this.selected && !view.viewOf.has(this.selected)) this.selected = null;
    this.highlight();
    this.search(this.ui.search.value);
  }

  /** Tag Graphviz's <g class="node|edge"> elements with the ids and states they stand for. */
  private indexSvg(svg: SVGSVGElement, view: ViewGraph): void {
    for (const g of Array.from(svg.querySelectorAll<SVGGElement>("g.node"))) {
      const title = g.querySelector("title");
      const node = view.byId.get(title?.textContent ?? "");
      if (!node || !title) continue;
      g.dataset.id = node.id;
      g.classList.add(node.kind, ...(node.members.length > 1 ? ["group"] : []), ...(node.folded ? ["folded"] : []));
      const m = node.marks;
      g.classList.toggle("stale", m.stale > 0);
      g.classList.toggle("missing", m.missing > 0);
      g.classList.toggle("failed", m.failed > 0);
      g.classList.toggle("superseded", m.superseded === node.members.length);
      g.classList.toggle("modified", m.modified > 0);
      title.textContent = node.folded
        ? `${node.members.length} cells that touch no file and feed none that does — click to show them`
        : tooltip(node.members[0], node.members.length);
      this.nodeEls.set(node.id, g);
    }
    for (const g of Array.from(svg.querySelectorAll<SVGGElement>("g.edge"))) {
      const [source, target] = (g.querySelector("title")?.textContent ?? "").split("->");
      g.dataset.source = source;
      g.dataset.target = target;
      this.edgeEls.push({ el: g, source, target });
    }
  }

  private report(stats: RenderStats): void {
    const c = this.payload.counts;
    const parts = [`${c.jobs} jobs`, `${c.artifacts} artifacts`];
    if (c.stale) parts.push(`${c.stale} stale`);
    if (c.failed) parts.push(`${c.failed} failed`);
    if (c.missing) parts.push(`${c.missing} missing`);
    if (c.modified) parts.push(`${c.modified} modified on disk`);
    const shown = this.opts.focus ? " (neighbourhood)" : "";
    this.ui.status.textContent = `${parts.join(" · ")} — ${stats.nodes} drawn${shown} in ${Math.round(stats.totalMs)} ms`;
    this.ui.all.hidden = !this.opts.focus;
    this.ui.cellsToggle.hidden = !this.payload.nodes.some((n) => n.type === "job" && n.kind === "cell");
    const folded = this.view?.byId.get(FOLDED_CELLS)?.members.length;
    this.ui.cellsText.textContent = ` every cell${folded ? ` (${folded} folded)` : ""}`;
    this.sizeSearch();
    this.element.dataset.renderMs = String(Math.round(stats.totalMs));
    this.element.dispatchEvent(new CustomEvent("roar-dag-rendered", { detail: stats, bubbles: true }));
  }

  // selection ---------------------------------------------------------------------------------
  private highlight(): void {
    const view = this.view;
    const sel = this.selected ? view?.viewOf.get(this.selected) ?? null : null;
    const up = sel && view ? reachable(view, sel, "up") : new Set<string>();
    const down = sel && view ? reachable(view, sel, "down") : new Set<string>();
    this.element.classList.toggle("has-selection", Boolean(sel));
    for (const [id, g] of this.nodeEls) {
      g.classList.toggle("selected", id === sel);
      g.classList.toggle("upstream", up.has(id));
      g.classList.toggle("downstream", down.has(id));
    }
    for (const { el: g, source, target } of this.edgeEls) {
      const onUp = (up.has(source) || source === sel) && (up.has(target) || target === sel);
      const onDown = (down.has(source) || source === sel) && (down.has(target) || target === sel);
      g.classList.toggle("upstream", Boolean(sel) && onUp);
      g.classList.toggle("downstream", Boolean(sel) && onDown);
    }
    this.ui.focus.disabled = !sel || (view?.byId.get(sel)?.members.length ?? 0) > 1;
    renderDetails(this.ui.details, sel && view ? view.byId.get(sel) ?? null : null, this.ctx);
  }

  private clickNode(id: string): void {
    const node = this.view?.byId.get(id);
    if (!node) return;
    if (node.folded) {
      void this.setAllCells(true); // the folded cells: show them
      return;
    }
    // A group is selected by its own id; a single node by its payload id.
    this.select(node.members.length > 1 ? id : node.members[0].id);
  }

  private context(): DetailsContext {
    const byId = new Map(this.payload.nodes.map((n) => [n.id, n]));
    const edgesOf = new Map<string, GraphEdge[]>();
    for (const e of this.payload.edges)
      for (const id of [e.source, e.target]) {
        const list = edgesOf.get(id);
        if (list) list.push(e);
        else edgesOf.set(id, [e]);
      }
    return { payload: this.payload, byId, edgesOf, go: (id) => this.goTo(id) };
  }

  /** From the details panel: select a node, focusing on it when a group hides it. */
  private goTo(id: string): void {
    const shownAs = this.view?.viewOf.get(id);
    if (shownAs === id) {
      this.select(id);
      const g = this.nodeEls.get(id);
      if (g) this.panzoom?.centreOn(g);
      return;
    }
    void this.focus(id).then(() => this.select(id));
  }

  /** Wide enough for the whole placeholder in the host's font (the toolbar wraps instead). */
  private sizeSearch(): void {
    const input = this.ui.search;
    if (input.dataset.sized || !input.isConnected) return;
    const style = getComputedStyle(input);
    const ctx = document.createElement("canvas").getContext("2d");
    if (!ctx) return;
    ctx.font = style.font || `${style.fontSize} ${style.fontFamily}`;
    const text = ctx.measureText(input.placeholder).width;
    const chrome = ["paddingLeft", "paddingRight", "borderLeftWidth", "borderRightWidth"] as const;
    const extra = chrome.reduce((t, k) => t + (parseFloat(style[k]) || 0), 0);
    // + room for the search field's clear button, which Chromium draws inside the box
    input.style.width = `${Math.ceil(text + extra + 20)}px`;
    input.dataset.sized = "1";
  }

  private autoCollapse(payload: GraphPayload): boolean {
    const c = this.options.collapse ?? "auto";
    return c === "auto" ? payload.nodes.length > AUTO_COLLAPSE_NODES : c;
  }

  // controls ----------------------------------------------------------------------------------
  private wire(): void {
    const ui = this.ui;
    ui.collapse.checked = this.opts.collapse;
    ui.depth.value = String(this.opts.depth);
    ui.canvas.addEventListener("click", (ev) => {
      if (this.panzoom?.dragged) return;
      const g = (ev.target as Element).closest?.("g.node") as SVGGElement | null;
      if (g?.dataset.id) this.clickNode(g.dataset.id);
      else if (this.selected) this.select(null);
    });
    ui.search.addEventListener("input", () => this.search(ui.search.value));
    ui.search.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && this.matches.length) {
        this.matchIndex = (this.matchIndex + 1) % this.matches.length;
        const id = this.matches[this.matchIndex];
        this.clickNode(id);
        const g = this.nodeEls.get(id);
        if (g) this.panzoom?.centreOn(g);
      }
    });
    ui.collapse.addEventListener("change", () => void this.setCollapse(ui.collapse.checked));
    ui.cells.checked = this.opts.allCells;
    ui.cells.addEventListener("change", () => void this.setAllCells(ui.cells.checked));
    this.watchSize();
    ui.focus.addEventListener("click", () => this.selected && void this.focus(this.selected));
    ui.all.addEventListener("click", () => void this.focus(null));
    ui.depth.addEventListener("change", () => {
      this.opts.depth = Math.max(1, Math.min(9, Number(ui.depth.value) || DEFAULT_VIEW.depth));
      if (this.opts.focus) void this.draw();
    });
    ui.fit.addEventListener("click", () => this.fit());
    ui.zoomIn.addEventListener("click", () => this.panzoom?.zoom(0.7));
    ui.zoomOut.addEventListener("click", () => this.panzoom?.zoom(1 / 0.7));
    ui.refresh?.addEventListener("click", () => this.options.onRefresh?.());
    this.element.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") this.select(null);
    });
  }
}

function tooltip(n: GraphNode, members: number): string {
  if (members > 1) return `${members} collapsed — click for the list`;
  if (n.type === "job") return `${n.step_ref} ${n.command}`;
  const modified = isModified(n) ? `\nmodified on disk: ${MODIFIED_MEANS}` : "";
  return `${n.path}\n${n.hash ?? "content unknown"}${modified}`;
}

function buildChrome(withRefresh: boolean) {
  const root = el("div", "roar-dag-view");
  root.tabIndex = 0;
  const bar = el("div", "roar-dag-toolbar");
  const search = el("input", "roar-dag-search") as HTMLInputElement;
  search.type = "search";
  search.placeholder = "Search name, command or hash…";
  search.setAttribute("aria-label", "Search nodes");
  const matches = el("span", "roar-dag-matches");
  const collapseLabel = el("label", "roar-dag-toggle");
  const collapse = el("input", "roar-dag-collapse") as HTMLInputElement;
  collapse.type = "checkbox";
  collapseLabel.append(collapse, document.createTextNode(" collapse repeats"));
  const cellsToggle = el("label", "roar-dag-toggle");
  cellsToggle.title = "Also show the notebook cells that touch no file and feed no cell that does";
  const cells = el("input", "roar-dag-cells") as HTMLInputElement;
  cells.type = "checkbox";
  const cellsText = el("span", "", " every cell");
  cellsToggle.append(cells, cellsText);
  const focus = button("Focus", "roar-dag-focus", "Show only the selected node's neighbourhood");
  const depth = el("input", "roar-dag-depth") as HTMLInputElement;
  depth.type = "number";
  depth.min = "1";
  depth.max = "9";
  depth.title = "Neighbourhood depth (hops)";
  const all = button("Show all", "roar-dag-all", "Leave the neighbourhood view");
  const fit = button("Fit", "roar-dag-fit", "Fit the graph to the view");
  const zoomIn = button("+", "roar-dag-zoom-in", "Zoom in");
  const zoomOut = button("−", "roar-dag-zoom-out", "Zoom out");
  const refresh = withRefresh ? button("Refresh", "roar-dag-refresh", "Reload from the roar store") : null;
  bar.append(search, matches, collapseLabel, cellsToggle, focus, depth, all, fit, zoomIn, zoomOut, ...(refresh ? [refresh] : []));
  const body = el("div", "roar-dag-body");
  const canvas = el("div", "roar-dag-canvas");
  const details = el("aside", "roar-dag-details");
  body.append(canvas, details);
  const error = el("div", "roar-dag-error");
  error.hidden = true;
  const status = el("div", "roar-dag-status");
  const legend = el("div", "roar-dag-legend");
  LEGEND.forEach(({ key, text }, i) => {
    if (i) legend.append(document.createTextNode(" · "));
    legend.append(el("span", `roar-dag-legend-${key}`, text));
  });
  root.append(bar, error, body, status, legend);
  return { root, search, matches, collapse, cells, cellsToggle, cellsText, focus, depth, all, fit, zoomIn, zoomOut, refresh, canvas, details, error, status };
}

function button(text: string, cls: string, title: string): HTMLButtonElement {
  const b = el("button", cls, text) as HTMLButtonElement;
  b.type = "button";
  b.title = title;
  return b;
}
