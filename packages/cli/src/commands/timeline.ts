import type { CheckpointReading, LogEntry } from '@ckpt/core';

/** One attempt of a run, as the timeline shows it. */
export interface TimelineAttempt {
  readonly attempt: number;
  readonly start: number;
  readonly end: number;
  /** success, failure, interrupted — or crashed when the attempt never recorded its end. */
  readonly outcome: string;
  readonly resumedFrom: number;
}

/** One execution of a unit within an attempt. */
export interface TimelineSpan {
  readonly unit: string;
  readonly attempt: number;
  readonly start: number;
  readonly end: number;
  /** success, failure, failed, or in-flight (the attempt ended while it ran). */
  readonly outcome: string;
}

export interface Timeline {
  readonly attempts: readonly TimelineAttempt[];
  readonly spans: readonly TimelineSpan[];
  readonly units: readonly string[];
}

/** Builds the timeline of every attempt from the log's entries (events carry their time in `at`). */
export function timelineOf(entries: readonly LogEntry[]): Timeline {
  const attempts: { attempt: number; start: number; end: number; outcome: string; resumedFrom: number }[] = [];
  const spans: TimelineSpan[] = [];
  const open = new Map<string, { start: number; attempt: number }>();
  const units: string[] = [];
  let completedSoFar = 0;
  const closeOpen = (end: number, outcome: string) => {
    for (const [unit, span] of open) spans.push({ unit, attempt: span.attempt, start: span.start, end, outcome });
    open.clear();
  };
  for (const entry of entries) {
    if (entry.kind !== 'event') continue;
    const event = entry.event as { type: string; at?: number; unit?: string; attempt?: number; outcome?: string };
    const at = event.at;
    if (at === undefined) continue;
    const current = attempts.at(-1);
    if (current !== undefined && event.type !== 'attempt-started') current.end = Math.max(current.end, at);
    switch (event.type) {
      case 'attempt-started':
        if (current !== undefined) closeOpen(current.end, 'in-flight');
        attempts.push({ attempt: event.attempt ?? attempts.length + 1, start: at, end: at, outcome: 'crashed', resumedFrom: completedSoFar });
        break;
      case 'attempt-ended':
        if (current !== undefined) {
          current.outcome = event.outcome ?? 'crashed';
          closeOpen(at, 'in-flight');
        }
        break;
      case 'unit-started':
        if (event.unit !== undefined) {
          if (!units.includes(event.unit)) units.push(event.unit);
          open.set(event.unit, { start: at, attempt: current?.attempt ?? 0 });
        }
        break;
      case 'unit-completed':
      case 'unit-failed': {
        if (event.unit === undefined) break;
        if (!units.includes(event.unit)) units.push(event.unit);
        const span = open.get(event.unit) ?? { start: at, attempt: current?.attempt ?? 0 };
        open.delete(event.unit);
        const outcome = event.type === 'unit-failed' ? 'failed' : (event.outcome ?? 'success');
        if (outcome === 'success') completedSoFar++;
        spans.push({ unit: event.unit, attempt: span.attempt, start: span.start, end: at, outcome });
        break;
      }
    }
  }
  const last = attempts.at(-1);
  if (last !== undefined) closeOpen(last.end, 'in-flight');
  return { attempts, spans, units };
}

const COLORS: Record<string, string> = {
  success: '#2e9e5b',
  failure: '#d9822b',
  failed: '#d64545',
  'in-flight': '#9aa5b1',
  crashed: '#d64545',
  interrupted: '#d9822b',
};

const round = (value: number) => Math.round(value * 10) / 10;
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A single self-contained HTML page (inline CSS and SVG, no script, no network): one lane per
 * unit, one bar per execution of it, attempts side by side with the idle time between them cut
 * out, restarts marked with a line and crashes with a red cross.
 */
export function renderTimelineHtml(path: string, reading: Pick<CheckpointReading, 'identity' | 'state' | 'entries'>): string {
  const timeline = timelineOf(reading.entries ?? []);
  const { identity } = reading;
  const LABEL = 220;
  const WIDTH = 1000;
  const GAP = 24;
  const ROW = 22;
  const TOP = 48;
  // Each attempt gets a share of the width proportional to its duration, but at least a fifth
  // of an even share, so a short attempt stays visible and labelled.
  const durations = timeline.attempts.map((a) => Math.max(1, a.end - a.start));
  const total = durations.reduce((sum, d) => sum + d, 0);
  const floor = 1 / (5 * Math.max(1, durations.length));
  const shares = durations.map((d) => Math.max(floor, d / total));
  const shareSum = shares.reduce((sum, share) => sum + share, 0);
  const usable = WIDTH - GAP * Math.max(0, timeline.attempts.length - 1);
  const widths = shares.map((share) => (share / shareSum) * usable);
  const offsets: number[] = [];
  let x = LABEL;
  for (const width of widths) {
    offsets.push(round(x));
    x += width + GAP;
  }
  const xOf = (attempt: number, time: number) => {
    const index = timeline.attempts.findIndex((a) => a.attempt === attempt);
    if (index < 0) return LABEL;
    return round(offsets[index]! + ((time - timeline.attempts[index]!.start) / durations[index]!) * widths[index]!);
  };
  const height = TOP + timeline.units.length * ROW + 40;
  const parts: string[] = [];
  timeline.units.forEach((unit, row) => {
    const y = TOP + row * ROW;
    parts.push(`<text class="unit" x="${LABEL - 8}" y="${y + 15}" text-anchor="end">${escapeHtml(unit)}</text>`);
    parts.push(`<line class="lane" x1="${LABEL}" x2="${LABEL + WIDTH}" y1="${y + ROW - 1}" y2="${y + ROW - 1}"/>`);
  });
  timeline.attempts.forEach((attempt, index) => {
    const x0 = offsets[index]!;
    const x1 = xOf(attempt.attempt, attempt.end);
    parts.push(`<rect class="attempt" x="${x0}" y="${TOP - 22}" width="${Math.max(2, x1 - x0)}" height="${height - TOP - 10}"/>`);
    parts.push(
      `<text class="attempt-label" x="${x0 + 4}" y="${TOP - 8}">attempt ${attempt.attempt}: ${escapeHtml(attempt.outcome)}${index > 0 ? ' (restart)' : ''}</text>`,
    );
    if (index > 0)
      parts.push(
        `<line class="restart" x1="${x0}" x2="${x0}" y1="${TOP - 22}" y2="${height - 12}"><title>restart: attempt ${attempt.attempt}</title></line>`,
      );
    if (attempt.outcome === 'crashed') {
      parts.push(
        `<text class="crash" x="${x1}" y="${height - 16}" text-anchor="middle">✕<title>attempt ${attempt.attempt} stopped without recording its end (crash or kill)</title></text>`,
      );
    }
  });
  for (const span of timeline.spans) {
    const row = timeline.units.indexOf(span.unit);
    const x0 = xOf(span.attempt, span.start);
    const x1 = xOf(span.attempt, span.end);
    const title = `${span.unit} — attempt ${span.attempt}: ${span.outcome}, ${Math.max(0, span.end - span.start)} ms`;
    parts.push(
      `<rect class="span ${span.outcome}" x="${x0}" y="${TOP + row * ROW + 3}" width="${Math.max(3, x1 - x0)}" height="${ROW - 8}" fill="${COLORS[span.outcome] ?? '#666'}"><title>${escapeHtml(title)}</title></rect>`,
    );
  }
  const legend = Object.entries({ success: 'completed', failed: 'failed', 'in-flight': 'in flight at the end of its attempt' })
    .map(([key, text]) => `<span><i style="background:${COLORS[key]}"></i>${text}</span>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ckpt timeline — ${escapeHtml(identity.id)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#1f2933}
h1{font-size:18px;margin:0 0 4px} p{margin:0 0 12px;color:#52606d}
svg text{font:12px system-ui,sans-serif} .unit{fill:#1f2933} .lane{stroke:#e4e7eb}
.attempt{fill:#f5f7fa;stroke:#cbd2d9} .attempt-label{fill:#52606d;font-weight:600}
.restart{stroke:#3e4c59;stroke-dasharray:4 3;stroke-width:2} .crash{fill:#d64545;font-size:18px;font-weight:700}
.legend span{margin-right:16px} .legend i{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px}
</style></head><body>
<h1>${escapeHtml(identity.kind)} “${escapeHtml(identity.id)}” version ${escapeHtml(identity.version)}</h1>
<p>${escapeHtml(path)} — ${timeline.attempts.length} attempt(s), ${timeline.units.length} unit(s), ${reading.state.eventCount} events. Idle time between attempts is cut out.</p>
<p class="legend">${legend}<span><b style="color:#d64545">✕</b> crash (no end recorded)</span><span>┆ restart</span></p>
<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="${LABEL + WIDTH + 20}" height="${height}" role="img" aria-label="timeline of all attempts">
${parts.join('\n')}
</svg>
</body></html>
`;
}
