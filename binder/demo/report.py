"""The report step: python report.py SUMMARY.json REPORT.md

Reads the per-station summary the notebook wrote and writes a small Markdown table.
"""

import json
import sys

summary_path, report_path = sys.argv[1:3]
with open(summary_path, encoding="utf-8") as fh:
    summary = json.load(fh)

warmest = max(summary, key=lambda station: summary[station]["mean"])
lines = ["| station | readings | mean °C |", "| --- | ---: | ---: |"]
for station, row in summary.items():
    lines.append(f"| {station} | {row['n']} | {row['mean']:.1f} |")
lines += ["", f"Warmest on average: **{warmest}**."]
with open(report_path, "w", encoding="utf-8") as fh:
    fh.write("\n".join(lines) + "\n")
print(f"wrote {report_path}: {len(summary)} stations, warmest {warmest}")
