// Progress of a long command: on a TTY one line redrawn in place (a bar with counts, rate and
// ETA); otherwise a plain line every few seconds, so logs of a Job or a CI run stay readable.
export interface ProgressState {
  label: string;
  total: number;
  done: number;
  detail: string;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  s = Math.round(s);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export class Progress {
  private readonly samples: Array<{ t: number; done: number }> = [];
  private lastPlain = 0;
  private drawn = false;
  private readonly tty: boolean;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    tty?: boolean,
    private readonly plainEveryMs = 2000,
  ) {
    this.tty = tty ?? !!out.isTTY;
  }

  /** Items per second over the last ~5 s. */
  private rate(now: number): number {
    const s = this.samples;
    while (s.length > 2 && now - s[0]!.t > 5000) s.shift();
    if (s.length < 2) return 0;
    const a = s[0]!;
    const b = s[s.length - 1]!;
    return b.t > a.t ? ((b.done - a.done) * 1000) / (b.t - a.t) : 0;
  }

  update(p: ProgressState, now = Date.now()): void {
    this.samples.push({ t: now, done: p.done });
    const rate = this.rate(now);
    const left = Math.max(0, p.total - p.done);
    const eta = rate > 0 ? fmtDuration(left / rate) : '?';
    const pct = p.total > 0 ? Math.min(100, Math.floor((p.done * 100) / p.total)) : 100;
    if (this.tty) {
      const width = 30;
      const fill = p.total > 0 ? Math.min(width, Math.round((p.done / p.total) * width)) : width;
      const bar = '█'.repeat(fill) + '░'.repeat(width - fill);
      const line = `${p.label} [${bar}] ${fmtInt(p.done)}/${fmtInt(p.total)} ${pct}% ${fmtInt(rate)}/s ETA ${eta} ${p.detail}`;
      const cols = this.out.columns ?? 120;
      this.out.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
      this.drawn = true;
    } else if (now - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = now;
      this.out.write(`${p.label}: ${p.done}/${p.total} (${pct}%) ${p.detail} rate=${Math.round(rate)}/s eta=${eta}\n`);
    }
  }

  /** Ends the redrawn line (TTY) before anything else is printed. */
  end(): void {
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
