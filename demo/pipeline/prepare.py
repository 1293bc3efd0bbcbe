"""Step 1: turn raw rows into a cleaned dataset."""

import csv
import random

random.seed(7)
with open("data/raw.csv", "w", newline="") as fh:
    writer = csv.writer(fh)
    writer.writerow(["x", "y"])
    for _ in range(200):
        x = random.uniform(0, 10)
        writer.writerow([f"{x:.4f}", f"{3 * x + 2 + random.gauss(0, 1):.4f}"])

with open("data/raw.csv") as src, open("data/clean.csv", "w", newline="") as dst:
    rows = [r for r in csv.DictReader(src) if float(r["x"]) > 0.5]
    out = csv.DictWriter(dst, fieldnames=["x", "y"])
    out.writeheader()
    out.writerows(rows)
print(f"prepared {len(rows)} rows")
