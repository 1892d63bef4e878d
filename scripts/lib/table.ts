// Terminal output for the local CLIs: a plain aligned table that fits the terminal, optional colour, and a
// progress bar. No dependency: ~100 lines do what a table library would, for the few shapes we print.

export type Color = 'green' | 'yellow' | 'red' | 'magenta' | 'cyan' | 'dim' | 'bold';

const CODES: Record<Color, [number, number]> = {
  green: [32, 39],
  yellow: [33, 39],
  red: [31, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  dim: [2, 22],
  bold: [1, 22],
};

/** Colour on a TTY unless NO_COLOR is set; FORCE_COLOR forces it. */
export function colorEnabled(stream: NodeJS.WriteStream): boolean {
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  return stream.isTTY === true;
}

export type Paint = (color: Color | undefined, text: string) => string;
export const painter =
  (enabled: boolean): Paint =>
  (color, text) =>
    enabled && color ? `\x1b[${CODES[color][0]}m${text}\x1b[${CODES[color][1]}m` : text;

/** Display width in code points (control characters shown as one replacement each). */
const width = (s: string) => [...s].length;

/** One line, control characters replaced, cut to `max` code points with an ellipsis. */
export function clip(text: string, max: number): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point (a record's text must not drive the terminal)
  const flat = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  const chars = [...flat];
  if (chars.length <= max) return flat;
  return max <= 1 ? chars.slice(0, max).join('') : `${chars.slice(0, max - 1).join('')}…`;
}

export interface Column {
  header: string;
  align?: 'left' | 'right';
  /** Widest this column may get (cells are clipped). */
  max?: number;
  /** Takes the width left over (at least `min`); the last flexible column wins when several. */
  flex?: boolean;
  min?: number;
}

export interface Cell {
  text: string;
  color?: Color;
}

export interface TableOptions {
  /** Total width to fit in; default the terminal's, or 160 when not a terminal. */
  width?: number;
  paint?: Paint;
  indent?: string;
}

export function renderTable(columns: readonly Column[], rows: ReadonlyArray<ReadonlyArray<Cell | string>>, o: TableOptions = {}): string {
  const paint = o.paint ?? painter(false);
  const indent = o.indent ?? '';
  const gap = 2;
  const cells = rows.map((r) => columns.map((_, i) => (typeof r[i] === 'string' ? { text: r[i] as string } : ((r[i] as Cell | undefined) ?? { text: '' }))));
  const widths = columns.map((c, i) => Math.min(c.max ?? Infinity, Math.max(width(c.header), ...cells.map((r) => width(r[i].text.replace(/[\r\n].*$/s, ''))))));
  const total = o.width ?? 160;
  const flex = columns.findIndex((c) => c.flex);
  if (flex >= 0) {
    const others = widths.reduce((a, w, i) => (i === flex ? a : a + w), 0) + gap * (columns.length - 1) + indent.length;
    widths[flex] = Math.max(columns[flex].min ?? 10, Math.min(widths[flex], total - others));
  }
  const line = (r: Cell[], header = false) =>
    indent +
    r
      .map((c, i) => {
        const text = clip(c.text.split(/\r?\n/)[0], widths[i]);
        const pad = ' '.repeat(Math.max(0, widths[i] - width(text)));
        const last = i === r.length - 1;
        const padded = columns[i].align === 'right' ? pad + text : last ? text : text + pad;
        return paint(header ? 'bold' : c.color, padded);
      })
      .join(' '.repeat(gap))
      .trimEnd();
  const header = line(columns.map((c) => ({ text: c.header })), true);
  const rule = indent + paint('dim', widths.map((w) => '─'.repeat(w)).join(' '.repeat(gap)));
  return [header, rule, ...cells.map((r) => line(r))].join('\n');
}

/** A progress bar on a terminal; elsewhere (CI logs, pipes) a line at each quarter. */
export class Progress {
  private done = 0;
  private lastDraw = 0;
  private shown = -1;
  private lastQuarter = 0;
  private finished = false;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly label = 'records',
  ) {}

  tick(n = 1): void {
    this.done = Math.min(this.total, this.done + n);
    this.draw(false);
  }

  finish(): void {
    if (this.finished) return;
    this.done = this.total;
    this.draw(true);
    this.finished = true;
    if (this.stream.isTTY) this.stream.write('\n');
  }

  private draw(force: boolean): void {
    if (this.finished || this.total === 0) return;
    const pct = Math.floor((this.done / this.total) * 100);
    if (this.stream.isTTY) {
      const now = Date.now();
      if (this.shown === this.done || (!force && now - this.lastDraw < 80 && this.done < this.total)) return;
      this.lastDraw = now;
      this.shown = this.done;
      const cols = 30;
      const full = Math.round((this.done / this.total) * cols);
      this.stream.write(`\r  [${'█'.repeat(full)}${'░'.repeat(cols - full)}] ${this.done}/${this.total} ${this.label} ${String(pct).padStart(3)}%`);
      return;
    }
    const quarter = Math.floor(pct / 25);
    if (quarter > this.lastQuarter || (force && this.lastQuarter < 4)) {
      this.lastQuarter = Math.max(quarter, force ? 4 : quarter);
      this.stream.write(`progress: ${this.done}/${this.total} ${this.label} (${pct}%)\n`);
    }
  }
}
