// Pan (drag) and zoom (wheel, buttons) by moving the SVG's viewBox: the drawing stays vector
// at every zoom and no transform has to be kept in step with Graphviz's own.
//
// The state is a scale (CSS px per drawing unit) and the drawing point at the pane's top-left
// corner; the viewBox is derived from them and the pane's size, so resizing the pane neither
// stretches nor shrinks the drawing. Fit's scale is bounded (layout.fitScale): past those
// bounds the graph is panned, not shrunk into unreadable text.

import { fitScale, MAX_FIT_SCALE, MIN_FIT_SCALE } from "./layout";

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

const DRAG_THRESHOLD_PX = 4;
const MAX_ZOOM = 4 * MAX_FIT_SCALE;

export class PanZoom {
  /** The whole drawing, in drawing units. */
  private home: Box;
  private x = 0;
  private y = 0;
  private scale = MAX_FIT_SCALE;
  private drag: { x: number; y: number; from: { x: number; y: number }; moved: boolean } | null = null;
  private observer: ResizeObserver | null = null;
  /** True right after a drag, so the click that ends it does not select a node. */
  dragged = false;
  /** True until the user pans or zooms: a resized pane is then fitted again. */
  fitted = true;

  constructor(private svg: SVGSVGElement) {
    const vb = svg.viewBox.baseVal;
    this.home = { x: vb.x, y: vb.y, w: vb.width || 1, h: vb.height || 1 };
    svg.dataset.naturalWidth = String(this.home.w);
    svg.dataset.naturalHeight = String(this.home.h);
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMinYMin meet");
    svg.addEventListener("wheel", this.onWheel, { passive: false });
    svg.addEventListener("pointerdown", this.onDown);
    svg.addEventListener("pointermove", this.onMove);
    svg.addEventListener("pointerup", this.onUp);
    svg.addEventListener("pointercancel", this.onUp);
    if (typeof ResizeObserver !== "undefined") {
      this.observer = new ResizeObserver(() => this.resized());
      this.observer.observe(svg);
    }
    this.fit();
  }

  /** Current scale in CSS px per drawing unit. */
  get pxPerUnit(): number {
    return this.scale;
  }

  /** The whole drawing when its text stays readable, never past 1:1; else the start of it
   * (top-left) at the smallest readable scale. A dimension that fits is centred. */
  fit(): void {
    this.fitted = true;
    const pane = this.pane();
    const h = this.home;
    if (!pane) {
      // Not laid out yet (a hidden tab): show everything until the pane has a size.
      this.svg.setAttribute("viewBox", `${h.x} ${h.y} ${h.w} ${h.h}`);
      return;
    }
    const s = fitScale(h, pane);
    this.scale = s;
    const spareX = pane.w / s - h.w;
    const spareY = pane.h / s - h.h;
    this.x = spareX >= 0 ? h.x - spareX / 2 : h.x;
    this.y = spareY >= 0 ? h.y - spareY / 2 : h.y;
    this.apply();
  }

  /** Zoom by ``factor`` (< 1 zooms in) around a point in drawing coordinates (default: centre). */
  zoom(factor: number, at?: { x: number; y: number }): void {
    const pane = this.pane();
    if (!pane) return;
    const p = at ?? { x: this.x + pane.w / this.scale / 2, y: this.y + pane.h / this.scale / 2 };
    // Out as far as the whole drawing (or a little further), in to 4× its natural size.
    const least = Math.min(MIN_FIT_SCALE, 0.8 * Math.min(pane.w / this.home.w, pane.h / this.home.h));
    const s = Math.min(MAX_ZOOM, Math.max(least, this.scale / factor));
    this.x = p.x - ((p.x - this.x) * this.scale) / s;
    this.y = p.y - ((p.y - this.y) * this.scale) / s;
    this.scale = s;
    this.fitted = false;
    this.apply();
  }

  /** Centre on an element, zooming in to a readable scale when the view is zoomed out. */
  centreOn(el: Element): void {
    const r = el.getBoundingClientRect();
    const centre = this.toDrawing(r.left + r.width / 2, r.top + r.height / 2);
    const pane = this.pane();
    if (!centre || !pane) return;
    this.scale = Math.max(this.scale, MIN_FIT_SCALE);
    this.x = centre.x - pane.w / this.scale / 2;
    this.y = centre.y - pane.h / this.scale / 2;
    this.fitted = false;
    this.apply();
  }

  private resized(): void {
    if (this.fitted) this.fit();
    else this.apply();
  }

  private pane(): { w: number; h: number } | null {
    const r = this.svg.getBoundingClientRect();
    return r.width > 0 && r.height > 0 ? { w: r.width, h: r.height } : null;
  }

  private apply(): void {
    const pane = this.pane();
    if (!pane) return;
    const s = this.scale;
    this.svg.setAttribute("viewBox", `${this.x} ${this.y} ${pane.w / s} ${pane.h / s}`);
  }

  private toDrawing(clientX: number, clientY: number): { x: number; y: number } | null {
    const ctm = this.svg.getScreenCTM();
    if (!ctm) return null;
    const p = new DOMPoint(clientX, clientY).matrixTransform(ctm.inverse());
    return { x: p.x, y: p.y };
  }

  private onWheel = (ev: WheelEvent): void => {
    ev.preventDefault();
    const at = this.toDrawing(ev.clientX, ev.clientY) ?? undefined;
    this.zoom(Math.exp(ev.deltaY * 0.0015), at);
  };

  private onDown = (ev: PointerEvent): void => {
    if (ev.button !== 0) return;
    this.drag = { x: ev.clientX, y: ev.clientY, from: { x: this.x, y: this.y }, moved: false };
    this.dragged = false;
  };

  private onMove = (ev: PointerEvent): void => {
    const d = this.drag;
    if (!d) return;
    const dx = ev.clientX - d.x;
    const dy = ev.clientY - d.y;
    if (!d.moved && Math.hypot(dx, dy) < DRAG_THRESHOLD_PX) return;
    if (!d.moved) this.svg.setPointerCapture(ev.pointerId);
    d.moved = true;
    this.x = d.from.x - dx / this.scale;
    this.y = d.from.y - dy / this.scale;
    this.fitted = false;
    this.apply();
  };

  private onUp = (ev: PointerEvent): void => {
    if (this.drag?.moved) {
      this.dragged = true;
      if (this.svg.hasPointerCapture(ev.pointerId)) this.svg.releasePointerCapture(ev.pointerId);
    }
    this.drag = null;
  };

  destroy(): void {
    this.observer?.disconnect();
    this.svg.removeEventListener("wheel", this.onWheel);
  }
}
