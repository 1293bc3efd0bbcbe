// Pan (drag) and zoom (wheel, buttons) by moving the SVG's viewBox: the drawing stays vector
// at every zoom and no transform has to be kept in step with Graphviz's own.

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

const DRAG_THRESHOLD_PX = 4;

export class PanZoom {
  private home: Box;
  private box: Box;
  private drag: { x: number; y: number; box: Box; moved: boolean } | null = null;
  /** True right after a drag, so the click that ends it does not select a node. */
  dragged = false;

  constructor(private svg: SVGSVGElement) {
    const vb = svg.viewBox.baseVal;
    this.home = { x: vb.x, y: vb.y, w: vb.width || 1, h: vb.height || 1 };
    this.box = { ...this.home };
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    svg.addEventListener("wheel", this.onWheel, { passive: false });
    svg.addEventListener("pointerdown", this.onDown);
    svg.addEventListener("pointermove", this.onMove);
    svg.addEventListener("pointerup", this.onUp);
    svg.addEventListener("pointercancel", this.onUp);
    this.apply();
  }

  fit(): void {
    this.box = { ...this.home };
    this.apply();
  }

  /** Zoom by ``factor`` (< 1 zooms in) around a point in drawing coordinates (default: centre). */
  zoom(factor: number, at?: { x: number; y: number }): void {
    const b = this.box;
    const p = at ?? { x: b.x + b.w / 2, y: b.y + b.h / 2 };
    const w = Math.min(Math.max(b.w * factor, this.home.w / 200), this.home.w * 4);
    const f = w / b.w;
    this.box = { x: p.x - (p.x - b.x) * f, y: p.y - (p.y - b.y) * f, w: b.w * f, h: b.h * f };
    this.apply();
  }

  /** Centre on an element, zooming in so it is readable when the whole graph is tiny. */
  centreOn(el: Element): void {
    const r = el.getBoundingClientRect();
    const centre = this.toDrawing(r.left + r.width / 2, r.top + r.height / 2);
    if (!centre) return;
    // A node drawn narrower than 60 px is unreadable: zoom so it is about 150 px wide.
    const w = r.width > 0 && r.width < 60 ? this.box.w * (r.width / 150) : this.box.w;
    const h = (this.box.h / this.box.w) * w;
    this.box = { x: centre.x - w / 2, y: centre.y - h / 2, w, h };
    this.apply();
  }

  private apply(): void {
    const b = this.box;
    this.svg.setAttribute("viewBox", `${b.x} ${b.y} ${b.w} ${b.h}`);
  }

  private toDrawing(clientX: number, clientY: number): { x: number; y: number } | null {
    const ctm = this.svg.getScreenCTM();
    if (!ctm) return null;
    const p = new DOMPoint(clientX, clientY).matrixTransform(ctm.inverse());
    return { x: p.x, y: p.y };
  }

  private unitsPerPixel(): number {
    const r = this.svg.getBoundingClientRect();
    return Math.max(this.box.w / (r.width || 1), this.box.h / (r.height || 1));
  }

  private onWheel = (ev: WheelEvent): void => {
    ev.preventDefault();
    const at = this.toDrawing(ev.clientX, ev.clientY) ?? undefined;
    this.zoom(Math.exp(ev.deltaY * 0.0015), at);
  };

  private onDown = (ev: PointerEvent): void => {
    if (ev.button !== 0) return;
    this.drag = { x: ev.clientX, y: ev.clientY, box: { ...this.box }, moved: false };
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
    const s = this.unitsPerPixel();
    this.box = { ...d.box, x: d.box.x - dx * s, y: d.box.y - dy * s };
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
    this.svg.removeEventListener("wheel", this.onWheel);
  }
}
