/** The page's inline stylesheet (no web fonts, nothing fetched). */
export const STYLE = `
:root { --bin: #2f6db5; --seg: #8a8f98; --gap: #d0342c; --late: #8e44ad; --snap: #1e8449; --win: rgba(243, 156, 18, 0.45); }
* { box-sizing: border-box; }
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 16px 20px; color: #1d232a; background: #fff; }
h1 { font-size: 20px; margin: 0 0 6px; }
h2 { font-size: 15px; margin: 18px 0 6px; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
.muted { color: #6b7280; font-weight: normal; }
.warn { color: #b03a2e; }
.win-count { color: #9c5d00; font-weight: 600; }
#window { background: #fff4e0; border-left: 4px solid #f39c12; padding: 6px 10px; }
#picker { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0; }
#picker pre { flex-basis: 100%; margin: 0; padding: 6px 10px; background: #f4f6f8; border: 1px solid #dde2e7; user-select: all; }
#picked { font-weight: 600; }
.legend .k { display: inline-block; width: 14px; height: 10px; margin: 0 4px 0 12px; vertical-align: middle; }
.legend .k.bin { background: var(--bin); } .legend .k.seg { background: var(--seg); width: 2px; }
.legend .k.gap { background: var(--gap); } .legend .k.late { background: var(--late); }
.legend .k.snap { background: var(--snap); width: 2px; } .legend .k.win { background: var(--win); border: 1px solid #f39c12; }
.axis-row, .partition { display: grid; grid-template-columns: 320px 1fr; gap: 10px; align-items: center; }
.axis { position: relative; height: 34px; border-bottom: 1px solid #c5ccd3; }
.tick { position: absolute; bottom: 2px; transform: translateX(-50%); font-size: 10px; color: #4b5563; white-space: nowrap; }
.tick:first-child { transform: none; } .tick:last-child { transform: translateX(-100%); }
.partition { padding: 2px 0; border-bottom: 1px solid #f0f2f4; }
.partition .label { font-size: 12px; }
.partition.unselected .strip { opacity: 0.45; }
.strip { width: 100%; height: 40px; background: #fafbfc; cursor: crosshair; display: block; }
.strip .bin { fill: var(--bin); }
.strip .window-band { fill: var(--win); fill-opacity: 1; stroke: #f39c12; stroke-width: 1; vector-effect: non-scaling-stroke; }
.strip .gap { fill: var(--gap); opacity: 0.6; }
.strip .late { fill: var(--late); }
.strip line { vector-effect: non-scaling-stroke; }
.strip .segment-boundary { stroke: var(--seg); stroke-width: 1; stroke-dasharray: 2 2; }
.strip .snapshot { stroke: var(--snap); stroke-width: 2; }
#tip { position: absolute; z-index: 10; pointer-events: none; white-space: pre; background: #111827; color: #f9fafb; padding: 6px 8px; border-radius: 4px; font: 12px/1.35 ui-monospace, "DejaVu Sans Mono", monospace; }
#notes li, #snapshots li { margin: 2px 0; }
`;
