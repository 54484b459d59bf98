/** `kafka-backup timeline`: a backup's timeline as one self-contained HTML page (model.ts, html.ts). */
import { renderTimelineHtml } from './html.js';
import { collectTimeline, type Timeline, type TimelineRequest } from './model.js';

export type { Timeline, TimelineRequest } from './model.js';
export { DEFAULT_BINS, MAX_BINS, MIN_BINS } from './model.js';

export interface TimelinePage {
  html: string;
  timeline: Timeline;
}

export async function buildTimelinePage(req: TimelineRequest): Promise<TimelinePage> {
  const timeline = await collectTimeline(req);
  return { html: renderTimelineHtml(timeline), timeline };
}
