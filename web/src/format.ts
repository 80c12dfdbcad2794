// Dates as the console shows them.

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'always' });

const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

/** "in 12 days", "3 days ago", relative to now. */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const seconds = (Date.parse(iso) - now) / 1000;
  const abs = Math.abs(seconds);
  for (const [unit, size] of units) {
    if (abs >= size || unit === 'second') {
      // Days are shown up to 60, then months, then years past 2 years.
      if (unit === 'year' && abs < 2 * 365 * 86400) continue;
      if (unit === 'month' && abs < 60 * 86400) continue;
      return relative.format(Math.round(seconds / size), unit);
    }
  }
  return relative.format(0, 'second');
}

/** 2026-12-30 (UTC). */
export function day(iso: string): string {
  return iso.slice(0, 10);
}

/** 2026-12-30 14:05 UTC. */
export function dateTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}
